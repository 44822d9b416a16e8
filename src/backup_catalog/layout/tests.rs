//! Layout and WAL name math, with names as barman-cloud writes them.

use super::*;

#[test]
fn destinations_split_into_bucket_and_prefix() {
    let d = Destination::parse("s3://backups/cnpg/").unwrap();
    assert_eq!((d.bucket.as_str(), d.prefix.as_str()), ("backups", "cnpg"));
    let bare = Destination::parse("s3://backups").unwrap();
    assert_eq!(bare.prefix, "");
    let err = Destination::parse("https://acct.blob.core.windows.net/c").unwrap_err();
    assert!(err.contains("not an s3:// URL"), "{err}");
    assert!(Destination::parse("s3:///x").is_err());
}

#[test]
fn keys_follow_barman_cloud() {
    let l = Layout::new(Destination::parse("s3://backups/a/b").unwrap(), "prod");
    assert_eq!(l.base(), "a/b/prod/base/");
    assert_eq!(l.wals(), "a/b/prod/wals/");
    assert_eq!(
        l.backup_info("20240616T142236"),
        "a/b/prod/base/20240616T142236/backup.info"
    );
    assert_eq!(l.url(), "s3://backups/a/b/prod");
    let flat = Layout::new(Destination::parse("s3://backups").unwrap(), "web-a");
    assert_eq!(flat.wals(), "web-a/wals/");
}

#[test]
fn wal_names_parse_and_hash_like_barman() {
    // barman's own example: 000000010000000200000034 goes under wals/0000000100000002/.
    let s = Segment::parse("000000010000000200000034").unwrap();
    assert_eq!((s.timeline, s.log, s.seg), (1, 2, 0x34));
    assert_eq!(s.hash_dir(), "0000000100000002");
    assert_eq!(s.name(), "000000010000000200000034");
    assert_eq!(
        Segment::parse("0000000a000000020000003f").unwrap().timeline,
        10
    );
    assert!(Segment::parse("00000001000000020000003").is_none());
    assert!(Segment::parse("00000001000000020000003G").is_none());
}

#[test]
fn archive_file_kinds_with_compression() {
    let seg = Segment::parse("000000010000000000000003").unwrap();
    assert_eq!(
        WalFile::parse("000000010000000000000003.gz"),
        Some(WalFile::Segment(seg))
    );
    assert_eq!(
        WalFile::parse("000000010000000000000003"),
        Some(WalFile::Segment(seg))
    );
    assert_eq!(
        WalFile::parse("000000010000000000000003.00000028.backup.gz"),
        Some(WalFile::BackupLabel(seg))
    );
    assert_eq!(
        WalFile::parse("000000010000000000000003.partial.zst"),
        Some(WalFile::Partial(seg))
    );
    assert_eq!(
        WalFile::parse("00000002.history.gz"),
        Some(WalFile::History(2))
    );
    assert_eq!(
        WalFile::parse("00000002.history"),
        Some(WalFile::History(2))
    );
    assert_eq!(WalFile::parse("backup.info"), None);
    assert_eq!(WalFile::parse("000000010000000000000003.zstd"), None);
}

#[test]
fn lsn_and_segment_math_for_16mb_segments() {
    const SEG: u64 = 16 * 1024 * 1024;
    // backup.info of a real barman-cloud backup: begin_xlog=0/3000028, begin_wal=...03.
    let lsn = parse_lsn("0/3000028").unwrap();
    assert_eq!(lsn, 0x0300_0028);
    let s = Segment::of_lsn(1, lsn, SEG).unwrap();
    assert_eq!(s.name(), "000000010000000000000003");
    assert_eq!(s.start_lsn(SEG), 0x0300_0000);
    let high = Segment::of_lsn(2, parse_lsn("2/FF000100").unwrap(), SEG).unwrap();
    assert_eq!(high.name(), "0000000200000002000000FF");
    assert_eq!(parse_lsn("0/100000000"), None);
    assert_eq!(parse_lsn("nope"), None);
}

#[test]
fn hash_dirs_sort_by_timeline_then_log() {
    let mut dirs = ["0000000200000000", "0000000100000001", "0000000100000000"];
    dirs.sort();
    assert_eq!(dirs[2], "0000000200000000");
    assert_eq!(hash_dir_timeline("0000000200000000"), Some(2));
    assert_eq!(hash_dir_timeline("00000002.history"), None);
}

#[test]
fn backup_ids() {
    assert!(is_backup_id("20240616T142236"));
    assert!(!is_backup_id("backup-20240616142236"));
    assert!(!is_backup_id("20240616X142236"));
}
