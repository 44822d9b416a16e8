//! The recoverability window, as CNPG and the plugin compute its start (the `end_time` of the
//! oldest usable backup: a backup is consistent only from its end) and as barman gives its end
//! (the newest archived WAL): the `LastModified` of the last segment on the newest timeline that
//! has WAL, or the newest backup's end when no later WAL was archived. Gaps inside the archive
//! are not detected (that would need every WAL listed).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::base::Backup;
use super::wal::Archive;

/// From `earliest` to `latest`, both inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Window {
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    /// The oldest usable backup (where `earliest` comes from).
    pub first_backup: String,
    /// The newest usable backup.
    pub last_backup: String,
    pub last_backup_end: DateTime<Utc>,
    /// The timeline `latest` is on.
    pub timeline: u32,
    /// The last archived segment, when WAL reaches past the newest backup.
    pub last_wal: Option<String>,
}

/// The window, or `None` when no backup is usable (nothing to restore from).
pub(crate) fn compute(backups: &[Backup], archive: &Archive) -> Option<Window> {
    let usable: Vec<(&Backup, DateTime<Utc>)> = backups
        .iter()
        .filter(|b| b.usable())
        .filter_map(|b| Some((b, b.info.as_ref()?.end_time?)))
        .collect();
    let (first, earliest) = usable.iter().min_by_key(|(_, end)| *end)?;
    let (last, last_end) = usable.iter().max_by_key(|(_, end)| *end)?;
    let last_tli = last.info.as_ref().and_then(|i| i.timeline).unwrap_or(1);
    let wal = archive
        .timelines
        .iter()
        .filter(|t| t.timeline >= last_tli)
        .filter_map(|t| Some((t, t.last_archived_at?)))
        .max_by_key(|(t, _)| t.timeline);
    let (latest, timeline, last_wal) = match wal {
        Some((t, at)) if at > *last_end => (at, t.timeline, t.last.clone()),
        _ => (*last_end, last_tli, None),
    };
    Some(Window {
        earliest: *earliest,
        latest,
        first_backup: first.id.clone(),
        last_backup: last.id.clone(),
        last_backup_end: *last_end,
        timeline,
        last_wal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_catalog::base::judge;
    use crate::backup_catalog::wal::TimelineExtent;

    fn backup(id: &str, status: &str, end: Option<&str>, tli: u32) -> Backup {
        let mut text =
            format!("status={status}\ntimeline={tli}\nend_wal=000000010000000000000002\n");
        if let Some(end) = end {
            text.push_str(&format!("end_time={end}\n"));
        }
        judge(id.into(), Some(text))
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn archive(tli: u32, last_at: &str) -> Archive {
        Archive {
            timelines: vec![TimelineExtent {
                timeline: tli,
                first: Some("000000010000000000000001".into()),
                last: Some("000000010000000000000009".into()),
                last_archived_at: Some(at(last_at)),
                ends_partial: false,
            }],
            histories: vec![],
        }
    }

    #[test]
    fn from_the_first_backup_end_to_the_last_wal() {
        let backups = vec![
            backup(
                "20240101T000000",
                "DONE",
                Some("2024-01-01 00:10:00+00:00"),
                1,
            ),
            backup("20240102T000000", "FAILED", None, 1),
            backup(
                "20240103T000000",
                "DONE",
                Some("2024-01-03 00:10:00+00:00"),
                1,
            ),
        ];
        let w = compute(&backups, &archive(1, "2024-01-04T12:00:00Z")).unwrap();
        assert_eq!(w.earliest, at("2024-01-01T00:10:00Z"));
        assert_eq!(w.latest, at("2024-01-04T12:00:00Z"));
        assert_eq!(w.first_backup, "20240101T000000");
        assert_eq!(w.last_backup, "20240103T000000");
        assert_eq!(w.last_wal.as_deref(), Some("000000010000000000000009"));
    }

    #[test]
    fn the_last_backup_end_when_no_later_wal() {
        let backups = vec![backup(
            "20240103T000000",
            "DONE",
            Some("2024-01-03 00:10:00+00:00"),
            2,
        )];
        let w = compute(&backups, &archive(1, "2024-01-04T12:00:00Z")).unwrap();
        assert_eq!(
            w.latest,
            at("2024-01-03T00:10:00Z"),
            "timeline 1 WAL is before timeline 2"
        );
        assert_eq!(w.last_wal, None);
        assert_eq!(w.timeline, 2);
    }

    #[test]
    fn no_usable_backup_no_window() {
        let backups = vec![backup("20240102T000000", "FAILED", None, 1)];
        assert_eq!(compute(&backups, &archive(1, "2024-01-04T12:00:00Z")), None);
        assert_eq!(compute(&[], &Archive::default()), None);
    }
}
