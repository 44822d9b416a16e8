//! The parser against files written by barman-cloud-backup 3.19.1 (the version CNPG's plugin
//! sidecar ships): a completed backup and one that failed while uploading (only the paths in
//! them were rewritten).

use super::*;

const DONE: &str = include_str!("done.info");
const FAILED: &str = include_str!("failed.info");

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn a_completed_backup() {
    let info = parse(DONE).unwrap();
    assert_eq!(info.status, Status::Done);
    assert_eq!(info.name.as_deref(), Some("backup-20261124012233"));
    assert_eq!(info.begin_time, Some(utc("2026-11-24T01:29:16.505653Z")));
    assert_eq!(info.end_time, Some(utc("2026-11-24T01:29:17.469371Z")));
    assert_eq!(info.begin_wal.as_deref(), Some("000000010000000000000002"));
    assert_eq!(info.end_wal.as_deref(), Some("000000010000000000000002"));
    assert_eq!(info.begin_lsn.as_deref(), Some("0/2000028"));
    assert_eq!(info.end_lsn.as_deref(), Some("0/2000100"));
    assert_eq!(info.timeline, Some(1));
    assert_eq!(info.size, Some(23355081), "cluster_size when size is None");
    assert_eq!(info.version, Some(150020));
    assert_eq!(info.segment_size, Some(16 * 1024 * 1024));
    assert_eq!(info.error, None);
}

#[test]
fn a_failed_backup_has_no_end() {
    let info = parse(FAILED).unwrap();
    assert_eq!(info.status, Status::Failed);
    assert_eq!(info.end_time, None);
    assert_eq!(info.end_wal, None);
    assert!(info
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("failure uploading data (")));
}

#[test]
fn python_reprs_with_equals_signs_stay_whole() {
    // backup_label's repr holds `:` and `\n` escapes; a value may itself contain `=`.
    let info = parse("status=STARTED\nerror=a=b\nbackup_label='x=y\\n'\n").unwrap();
    assert_eq!(info.status, Status::Started);
    assert_eq!(info.error.as_deref(), Some("a=b"));
}

#[test]
fn datetimes_as_python_prints_them() {
    assert_eq!(
        parse_time("2024-06-16 14:22:36+02:00"),
        Some(utc("2024-06-16T12:22:36Z"))
    );
    assert_eq!(
        parse_time("2024-06-16 14:22:36.123456+00:00"),
        Some(utc("2024-06-16T14:22:36.123456Z"))
    );
    assert_eq!(
        parse_time("2024-06-16 14:22:36"),
        Some(utc("2024-06-16T14:22:36Z")),
        "naive: taken as UTC"
    );
    assert_eq!(parse_time("Sun Jun 16 14:22:36 2024"), None);
}

#[test]
fn broken_files_say_why() {
    assert_eq!(parse("begin_wal=x\n"), Err(ParseError::NoStatus));
    assert_eq!(
        parse("status=DONE\ngarbage\n"),
        Err(ParseError::NotKeyValue { line: 2 })
    );
    let err = parse("status=DONE\nend_time=yesterday\n").unwrap_err();
    assert!(err.to_string().contains("end_time"), "{err}");
    assert_eq!(
        parse("status=SOMETHING_NEW\n").unwrap().status,
        Status::Other("SOMETHING_NEW".into())
    );
}
