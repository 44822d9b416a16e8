//! What a restore asks for, checked against the catalog, and the `recoveryTarget` CNPG reads.
//! Time, backup id and latest go through [`crate::backup_catalog::target::resolve`]; an LSN picks the
//! newest usable backup that ended at or before it and must not lie past the archived WAL.
//! Every error is bad input and says what is available.

use serde_json::{json, Value};

use crate::backup_catalog::layout::{parse_lsn, Segment, WalFile};
use crate::backup_catalog::target::{self, Resolved, Target};
use crate::backup_catalog::{Backup, BackupCatalog};

/// `--target-time`, `--target-lsn`, `--backup-id` or `--latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Asked {
    Time(String),
    Lsn(String),
    BackupId(String),
    Latest,
}

impl Asked {
    /// From the step inputs: exactly one of them set.
    pub(crate) fn one_of(
        time: Option<String>,
        lsn: Option<String>,
        backup_id: Option<String>,
        latest: bool,
    ) -> Result<Self, String> {
        let mut given: Vec<Asked> = Vec::new();
        given.extend(time.map(Asked::Time));
        given.extend(lsn.map(Asked::Lsn));
        given.extend(backup_id.map(Asked::BackupId));
        if latest {
            given.push(Asked::Latest);
        }
        match given.len() {
            1 => Ok(given.remove(0)),
            0 => Err("give one restore target: --target-time, --target-lsn, --backup-id or --latest".into()),
            _ => Err("give only one restore target of --target-time, --target-lsn, --backup-id and --latest".into()),
        }
    }
}

/// A checked target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chosen {
    pub resolved: Resolved,
    /// `bootstrap.recovery.recoveryTarget`.
    pub recovery_target: Value,
    /// One line for the plan and the report.
    pub describe: String,
}

/// Checks `asked` against `catalog`.
pub(crate) fn choose(catalog: &BackupCatalog, asked: &Asked) -> Result<Chosen, String> {
    let err = |e: target::TargetError| e.to_string();
    match asked {
        Asked::Time(text) => {
            let t = target::parse_time(text).map_err(err)?;
            let r = target::resolve(catalog, &Target::Time(t)).map_err(err)?;
            let time = r.target_time.clone().unwrap_or_default();
            Ok(Chosen {
                recovery_target: json!({"backupID": r.backup_id, "targetTime": time}),
                describe: format!("point in time {time} from backup {}", r.backup_id),
                resolved: r,
            })
        }
        Asked::BackupId(id) => {
            let r = target::resolve(catalog, &Target::BackupId(id.clone())).map_err(err)?;
            Ok(Chosen {
                recovery_target: json!({"backupID": r.backup_id, "targetImmediate": true}),
                describe: format!(
                    "backup {} as it ended ({})",
                    r.backup_id,
                    r.backup_end.to_rfc3339()
                ),
                resolved: r,
            })
        }
        Asked::Latest => {
            let r = target::resolve(catalog, &Target::Latest).map_err(err)?;
            let end = catalog
                .window
                .as_ref()
                .map(|w| w.latest.to_rfc3339())
                .unwrap_or_default();
            Ok(Chosen {
                recovery_target: json!({"backupID": r.backup_id}),
                describe: format!(
                    "the end of the archived WAL (≈{end}) from backup {}",
                    r.backup_id
                ),
                resolved: r,
            })
        }
        Asked::Lsn(text) => by_lsn(catalog, text),
    }
}

fn lsn_of(
    b: &Backup,
    field: fn(&crate::backup_catalog::backup_info::BackupInfo) -> Option<&String>,
) -> Option<u64> {
    b.info.as_ref().and_then(field).and_then(|l| parse_lsn(l))
}

fn by_lsn(catalog: &BackupCatalog, text: &str) -> Result<Chosen, String> {
    let lsn = parse_lsn(text.trim())
        .ok_or_else(|| format!("target LSN `{text}` is not an LSN: write it like `0/3000060`"))?;
    let base = catalog
        .usable()
        .filter(|b| lsn_of(b, |i| i.end_lsn.as_ref()).is_some_and(|e| e <= lsn))
        .max_by_key(|b| lsn_of(b, |i| i.end_lsn.as_ref()))
        .ok_or_else(|| {
            let first = catalog
                .usable()
                .filter_map(|b| b.info.as_ref()?.end_lsn.clone())
                .min()
                .unwrap_or_else(|| "none".into());
            format!(
                "target LSN {text} is before the end of every completed backup in {} (earliest backup end LSN: {first})",
                catalog.url
            )
        })?;
    let info = base.info.as_ref();
    let timeline = info.and_then(|i| i.timeline).unwrap_or(1);
    let seg_size = info
        .and_then(|i| i.segment_size)
        .unwrap_or(16 * 1024 * 1024);
    let archived_end = catalog
        .archive
        .timelines
        .iter()
        .filter(|t| t.timeline == timeline)
        .filter_map(|t| t.last.as_deref())
        .filter_map(|name| WalFile::parse(name)?.segment())
        .map(|s: Segment| s.start_lsn(seg_size) + seg_size)
        .max()
        .or_else(|| lsn_of(base, |i| i.end_lsn.as_ref()))
        .unwrap_or(0);
    if lsn > archived_end {
        return Err(format!(
            "target LSN {text} is past the archived WAL of timeline {timeline} in {} (it ends at {:X}/{:X})",
            catalog.url,
            archived_end >> 32,
            archived_end & 0xFFFF_FFFF
        ));
    }
    let mut resolved =
        target::resolve(catalog, &Target::BackupId(base.id.clone())).map_err(|e| e.to_string())?;
    resolved.target_time = None;
    Ok(Chosen {
        recovery_target: json!({"backupID": base.id, "targetLSN": text.trim()}),
        describe: format!("LSN {} from backup {}", text.trim(), base.id),
        resolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_catalog::base::judge;
    use crate::backup_catalog::wal::{Archive, TimelineExtent};
    use crate::backup_catalog::window;

    /// Two completed backups (ending at 0/3000100 and 0/5000100) and WAL up to segment 8.
    fn catalog() -> BackupCatalog {
        let done = |id: &str, end_lsn: &str, end: &str| {
            judge(
                id.into(),
                Some(format!("status=DONE\ntimeline=1\nend_wal=000000010000000000000003\nend_xlog={end_lsn}\nend_time={end}\n")),
            )
        };
        let backups = vec![
            done("20261124T010000", "0/3000100", "2026-11-24 01:00:30+00:00"),
            done("20261124T030000", "0/5000100", "2026-11-24 03:00:30+00:00"),
        ];
        let archive = Archive {
            timelines: vec![TimelineExtent {
                timeline: 1,
                first: Some("000000010000000000000001".into()),
                last: Some("000000010000000000000008".into()),
                last_archived_at: chrono::DateTime::parse_from_rfc3339("2026-11-24T05:00:00Z")
                    .ok()
                    .map(|t| t.with_timezone(&chrono::Utc)),
                ends_partial: false,
            }],
            histories: vec![],
        };
        BackupCatalog {
            url: "s3://b/cnpg/db".into(),
            window: window::compute(&backups, &archive),
            backups,
            archive,
            requests: 0,
        }
    }

    #[test]
    fn each_target_becomes_the_recovery_target_cnpg_reads() {
        let c = catalog();
        let lsn = choose(&c, &Asked::Lsn("0/4000000".into())).unwrap();
        assert_eq!(
            lsn.recovery_target,
            json!({"backupID": "20261124T010000", "targetLSN": "0/4000000"})
        );
        let late = choose(&c, &Asked::Lsn("0/9000001".into())).unwrap_err();
        assert!(
            late.contains("past the archived WAL") && late.contains("0/9000000"),
            "{late}"
        );
        let early = choose(&c, &Asked::Lsn("0/1000000".into())).unwrap_err();
        assert!(
            early.contains("before the end of every completed backup"),
            "{early}"
        );
        assert!(choose(&c, &Asked::Lsn("nonsense".into())).is_err());

        let time = choose(&c, &Asked::Time("2026-11-24T05:00:00+01:00".into())).unwrap();
        assert_eq!(time.recovery_target["backupID"], "20261124T030000");
        assert_eq!(
            time.recovery_target["targetTime"],
            "2026-11-24T05:00:00+01:00"
        );
        let id = choose(&c, &Asked::BackupId("20261124T010000".into())).unwrap();
        assert_eq!(
            id.recovery_target,
            json!({"backupID": "20261124T010000", "targetImmediate": true})
        );
        let latest = choose(&c, &Asked::Latest).unwrap();
        assert_eq!(
            latest.recovery_target,
            json!({"backupID": "20261124T030000"})
        );
    }

    #[test]
    fn exactly_one_target() {
        assert_eq!(
            Asked::one_of(None, None, None, true).unwrap(),
            Asked::Latest
        );
        assert!(Asked::one_of(None, None, None, false).is_err());
        assert!(Asked::one_of(Some("t".into()), None, None, true).is_err());
    }
}
