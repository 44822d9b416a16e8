//! The extent of the WAL archive per timeline without listing every WAL object: hash
//! directories (`wals/TTTTTTTTLLLLLLLL/`) sort by timeline then log id, so one delimiter listing
//! of `wals/` gives every directory (and the history files), and per timeline only its first
//! key (one request, `max-keys=1`) and its last directory (one page: at most 256 segments of
//! 16 MiB) are read. The request count grows with timelines, not with WAL files.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::CatalogError;
use super::layout::{hash_dir_timeline, WalFile};
use super::s3::{Object, S3};

/// How many directories back from the last one to look for a segment (a directory may hold
/// only `.backup` labels).
const MAX_EMPTY_DIRS: usize = 3;

/// One timeline's archived WAL: first and last segment, and when the last one was archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TimelineExtent {
    pub timeline: u32,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The last segment object's `LastModified`: when it was archived.
    pub last_archived_at: Option<DateTime<Utc>>,
    /// Whether the last file is a `.partial` segment (the timeline ended by a promotion).
    pub ends_partial: bool,
}

/// The archive's timelines (ascending) and its timeline history files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Archive {
    pub timelines: Vec<TimelineExtent>,
    pub histories: Vec<u32>,
}

impl Archive {}

/// Hash directories grouped by timeline, each group in key order.
pub(crate) fn dirs_by_timeline(dirs: &[String]) -> BTreeMap<u32, Vec<String>> {
    let mut out: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for d in dirs {
        if let Some(tli) = hash_dir_timeline(d) {
            out.entry(tli).or_default().push(d.clone());
        }
    }
    for group in out.values_mut() {
        group.sort();
    }
    out
}

/// The file name of a key (after the last `/`).
fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The newest full or partial segment among `objects` (by key), with its object.
pub(crate) fn newest_segment(objects: &[Object]) -> Option<(WalFile, &Object)> {
    objects
        .iter()
        .filter_map(|o| WalFile::parse(file_name(&o.key)).map(|f| (f, o)))
        .filter(|(f, _)| matches!(f, WalFile::Segment(_) | WalFile::Partial(_)))
        .max_by(|a, b| a.1.key.cmp(&b.1.key))
}

/// Timeline history files directly under `wals/`.
pub(crate) fn histories(files: &[Object]) -> Vec<u32> {
    let mut out: Vec<u32> = files
        .iter()
        .filter_map(|o| match WalFile::parse(file_name(&o.key)) {
            Some(WalFile::History(t)) => Some(t),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out
}

/// Reads the archive extent under `wals` (the `<prefix>/<server>/wals/` key prefix).
pub(crate) async fn read(s3: &S3, wals: &str) -> Result<Archive, CatalogError> {
    let (dirs, files) = s3.list_dirs(wals).await?;
    let mut archive = Archive {
        timelines: Vec::new(),
        histories: histories(&files),
    };
    for (timeline, group) in dirs_by_timeline(&dirs) {
        archive
            .timelines
            .push(extent(s3, wals, timeline, &group).await?);
    }
    Ok(archive)
}

async fn extent(
    s3: &S3,
    wals: &str,
    timeline: u32,
    group: &[String],
) -> Result<TimelineExtent, CatalogError> {
    let mut out = TimelineExtent {
        timeline,
        first: None,
        last: None,
        last_archived_at: None,
        ends_partial: false,
    };
    if let Some(first_dir) = group.first() {
        let first = s3.list(&format!("{wals}{first_dir}/"), Some(1)).await?;
        out.first = first
            .first()
            .and_then(|o| WalFile::parse(file_name(&o.key)))
            .and_then(|f| f.segment())
            .map(|s| s.name());
    }
    for dir in group.iter().rev().take(MAX_EMPTY_DIRS) {
        let objects = s3.list(&format!("{wals}{dir}/"), None).await?;
        if let Some((file, object)) = newest_segment(&objects) {
            out.last = file.segment().map(|s| s.name());
            out.ends_partial = matches!(file, WalFile::Partial(_));
            out.last_archived_at = object.last_modified;
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, secs: i64) -> Object {
        Object {
            key: key.into(),
            last_modified: DateTime::from_timestamp(secs, 0),
            size: 1,
            etag: None,
        }
    }

    #[test]
    fn dirs_group_by_timeline_in_order() {
        let dirs: Vec<String> = [
            "0000000200000000",
            "0000000100000001",
            "0000000100000000",
            "junk",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let g = dirs_by_timeline(&dirs);
        assert_eq!(g.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(g[&1], vec!["0000000100000000", "0000000100000001"]);
    }

    #[test]
    fn newest_segment_skips_backup_labels() {
        // As barman-cloud-wal-archive --gzip laid them out for a real backup.
        let p = "cnpg/prod/wals/0000000100000000/";
        let objects = vec![
            obj(&format!("{p}000000010000000000000001.gz"), 1),
            obj(
                &format!("{p}000000010000000000000002.00000028.backup.gz"),
                2,
            ),
            obj(&format!("{p}000000010000000000000002.gz"), 2),
            obj(&format!("{p}000000010000000000000004.gz"), 9),
            obj(&format!("{p}000000010000000000000003.gz"), 5),
        ];
        let (file, o) = newest_segment(&objects).unwrap();
        assert_eq!(file.segment().unwrap().name(), "000000010000000000000004");
        assert_eq!(o.last_modified, DateTime::from_timestamp(9, 0));
        let labels_only = vec![obj(
            &format!("{p}000000010000000000000002.00000028.backup"),
            1,
        )];
        assert!(newest_segment(&labels_only).is_none());
    }

    #[test]
    fn history_files_are_found_beside_the_dirs() {
        let files = vec![
            obj("p/s/wals/00000003.history.gz", 1),
            obj("p/s/wals/00000002.history", 1),
            obj("p/s/wals/whatever", 1),
        ];
        assert_eq!(histories(&files), vec![2, 3]);
    }
}
