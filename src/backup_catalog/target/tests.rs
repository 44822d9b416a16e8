//! Target validation over a catalog of two completed backups, a failed one between them, and
//! WAL archived until 2026-11-24 05:00.

use super::*;
use crate::backup_catalog::base::judge;
use crate::backup_catalog::wal::{Archive, TimelineExtent};
use crate::backup_catalog::window;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn catalog() -> BackupCatalog {
    let done = |id: &str, name: &str, end: &str| {
        judge(
            id.into(),
            Some(format!("status=DONE\nbackup_name={name}\ntimeline=1\nend_wal=000000010000000000000002\nend_time={end}\n")),
        )
    };
    let backups = vec![
        done(
            "20261124T010000",
            "backup-20261124010000",
            "2026-11-24 01:00:30+00:00",
        ),
        judge(
            "20261124T020000".into(),
            Some("status=FAILED\nbackup_name=backup-20261124020000\n".into()),
        ),
        done(
            "20261124T030000",
            "backup-20261124030000",
            "2026-11-24 03:00:30+00:00",
        ),
    ];
    let archive = Archive {
        timelines: vec![TimelineExtent {
            timeline: 1,
            first: Some("000000010000000000000001".into()),
            last: Some("000000010000000000000040".into()),
            last_archived_at: Some(at("2026-11-24T05:00:00Z")),
            ends_partial: false,
        }],
        histories: vec![],
    };
    BackupCatalog {
        url: "s3://backups/cnpg/prod".into(),
        window: window::compute(&backups, &archive),
        backups,
        archive,
        requests: 0,
    }
}

fn time(text: &str) -> Target {
    Target::Time(parse_time(text).unwrap())
}

#[test]
fn target_times_need_an_explicit_offset() {
    assert_eq!(
        parse_time("2026-11-24T02:00:00Z").unwrap().to_rfc3339(),
        "2026-11-24T02:00:00+00:00"
    );
    assert_eq!(
        parse_time("2026-11-24 03:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc),
        at("2026-11-24T02:00:00Z")
    );
    assert_eq!(
        parse_time("2026-11-24 03:00:00.5+0100")
            .unwrap()
            .with_timezone(&Utc),
        at("2026-11-24T02:00:00.5Z")
    );
    let naive = parse_time("2026-11-24 02:00:00").unwrap_err();
    assert!(matches!(naive, TargetError::NoTimezone { .. }), "{naive}");
    assert!(naive.to_string().contains("explicit offset"));
    assert!(matches!(
        parse_time("yesterday"),
        Err(TargetError::NotATime { .. })
    ));
}

#[test]
fn a_time_picks_the_newest_completed_backup_ending_before_it() {
    let c = catalog();
    let r = resolve(&c, &time("2026-11-24T02:30:00Z")).unwrap();
    assert_eq!(
        r.backup_id, "20261124T010000",
        "the failed 02:00 backup is never chosen"
    );
    assert_eq!(r.target_time.as_deref(), Some("2026-11-24T02:30:00+00:00"));
    let r = resolve(&c, &time("2026-11-24T04:00:00+00:00")).unwrap();
    assert_eq!(r.backup_id, "20261124T030000");
    let edge = resolve(&c, &time("2026-11-24T03:00:30Z")).unwrap();
    assert_eq!(
        edge.backup_id, "20261124T030000",
        "a backup ending exactly at the target"
    );
}

#[test]
fn times_outside_the_window_print_the_window() {
    let c = catalog();
    for t in [
        "2026-11-24T01:00:29Z",
        "2026-11-24T05:00:01Z",
        "2026-11-23T00:00:00-05:00",
    ] {
        let err = resolve(&c, &time(t)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("2026-11-24T01:00:30Z .. 2026-11-24T05:00:00Z"),
            "{text}"
        );
        assert!(text.contains("s3://backups/cnpg/prod"), "{text}");
    }
}

#[test]
fn backup_ids_and_names_must_exist_and_be_done() {
    let c = catalog();
    assert_eq!(
        resolve(&c, &Target::BackupId("20261124T030000".into()))
            .unwrap()
            .target_time,
        None
    );
    let by_name = resolve(&c, &Target::BackupId("backup-20261124010000".into())).unwrap();
    assert_eq!(by_name.backup_id, "20261124T010000");
    let failed = resolve(&c, &Target::BackupId("20261124T020000".into())).unwrap_err();
    assert!(
        failed.to_string().contains("is FAILED, not DONE"),
        "{failed}"
    );
    let unknown = resolve(&c, &Target::BackupId("20200101T000000".into())).unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("20261124T010000, 20261124T030000"),
        "{unknown}"
    );
}

#[test]
fn latest_takes_the_newest_backup_and_all_wal() {
    let r = resolve(&catalog(), &Target::Latest).unwrap();
    assert_eq!(r.backup_id, "20261124T030000");
    assert_eq!(r.backup_end, at("2026-11-24T03:00:30Z"));
    assert_eq!(r.target_time, None);
    let mut empty = catalog();
    empty.backups.retain(|b| !b.usable);
    empty.window = None;
    for t in [Target::Latest, time("2026-11-24T02:00:00Z")] {
        let err = resolve(&empty, &t).unwrap_err();
        assert!(matches!(err, TargetError::NoWindow { .. }), "{err}");
    }
}
