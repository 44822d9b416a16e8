//! Restore targets checked against the catalog before anything is created (pure functions):
//! `--target-time` needs an explicit UTC offset and must fall inside the recoverability window,
//! and the base backup is the newest usable one that ended at or before it; `--backup-id`
//! (a barman ID or backup name) must exist and be `DONE`; `--latest` takes the newest usable
//! backup and replays all archived WAL. Every error is bad input and says what is available.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{Backup, BackupCatalog, Window};

/// What the user asked to restore to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Time(DateTime<FixedOffset>),
    BackupId(String),
    Latest,
}

/// A validated target: the base backup to start from and where to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Resolved {
    /// barman's backup ID of the base backup.
    pub backup_id: String,
    pub backup_name: Option<String>,
    pub backup_end: DateTime<Utc>,
    pub timeline: Option<u32>,
    /// `recoveryTarget.targetTime` (RFC 3339, as given); `None`: replay to the end of the archive
    /// (`--latest`) or stop at the backup's consistency point (`--backup-id`).
    pub target_time: Option<String>,
}

/// Why a target cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TargetError {
    #[error("target time `{given}` has no timezone: give an explicit offset, e.g. `2026-11-24T01:30:00Z` or `2026-11-24 02:30:00+01:00`")]
    NoTimezone { given: String },
    #[error("target time `{given}` is not a time: use RFC 3339, e.g. `2026-11-24T01:30:00Z`")]
    NotATime { given: String },
    #[error("nothing to restore from in {url}: it has no completed base backup")]
    NoWindow { url: String },
    #[error("target time {target} is outside the recoverability window of {url}: {earliest} .. {latest}")]
    OutsideWindow {
        target: String,
        url: String,
        earliest: String,
        latest: String,
    },
    #[error("backup `{given}` is not in {url}; completed backups: {known}")]
    UnknownBackup {
        given: String,
        url: String,
        known: String,
    },
    #[error("backup {id} in {url} is {status}, not DONE: a restore cannot start from it")]
    NotDone {
        id: String,
        url: String,
        status: String,
    },
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses `--target-time`: RFC 3339 (`T` or a space), the offset required.
pub(crate) fn parse_time(text: &str) -> Result<DateTime<FixedOffset>, TargetError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(d) = DateTime::parse_from_str(t, fmt) {
            return Ok(d);
        }
    }
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .any(|f| NaiveDateTime::parse_from_str(t, f).is_ok());
    let given = text.to_string();
    Err(if naive {
        TargetError::NoTimezone { given }
    } else {
        TargetError::NotATime { given }
    })
}

/// Checks `target` against `catalog`.
pub(crate) fn resolve(catalog: &BackupCatalog, target: &Target) -> Result<Resolved, TargetError> {
    match target {
        Target::BackupId(id) => by_id(catalog, id),
        Target::Latest => {
            let w = window(catalog)?;
            let last = find(catalog, &w.last_backup)?;
            Ok(resolved(last, None))
        }
        Target::Time(t) => {
            let w = window(catalog)?;
            let at = t.with_timezone(&Utc);
            if at < w.earliest || at > w.latest {
                return Err(TargetError::OutsideWindow {
                    target: t.to_rfc3339(),
                    url: catalog.url.clone(),
                    earliest: rfc3339(w.earliest),
                    latest: rfc3339(w.latest),
                });
            }
            let base = catalog
                .usable()
                .filter(|b| end(b).is_some_and(|e| e <= at))
                .max_by_key(|b| end(b))
                .ok_or_else(|| TargetError::NoWindow {
                    url: catalog.url.clone(),
                })?;
            Ok(resolved(base, Some(t.to_rfc3339())))
        }
    }
}

fn window(catalog: &BackupCatalog) -> Result<&Window, TargetError> {
    catalog
        .window
        .as_ref()
        .ok_or_else(|| TargetError::NoWindow {
            url: catalog.url.clone(),
        })
}

fn end(b: &Backup) -> Option<DateTime<Utc>> {
    b.info.as_ref().and_then(|i| i.end_time)
}

fn find<'a>(catalog: &'a BackupCatalog, id: &str) -> Result<&'a Backup, TargetError> {
    catalog
        .backups
        .iter()
        .find(|b| b.id == id || b.info.as_ref().and_then(|i| i.name.as_deref()) == Some(id))
        .ok_or_else(|| TargetError::UnknownBackup {
            given: id.to_string(),
            url: catalog.url.clone(),
            known: known(catalog),
        })
}

fn known(catalog: &BackupCatalog) -> String {
    let ids: Vec<&str> = catalog.usable().map(|b| b.id.as_str()).collect();
    match ids.len() {
        0 => "none".into(),
        n if n > 10 => format!("{} (and {} older)", ids[n - 10..].join(", "), n - 10),
        _ => ids.join(", "),
    }
}

fn by_id(catalog: &BackupCatalog, id: &str) -> Result<Resolved, TargetError> {
    let b = find(catalog, id)?;
    if !b.usable() {
        return Err(TargetError::NotDone {
            id: b.id.clone(),
            url: catalog.url.clone(),
            status: b.status().to_string(),
        });
    }
    Ok(resolved(b, None))
}

fn resolved(b: &Backup, target_time: Option<String>) -> Resolved {
    let info = b.info.as_ref();
    Resolved {
        backup_id: b.id.clone(),
        backup_name: info.and_then(|i| i.name.clone()),
        backup_end: end(b).unwrap_or_default(),
        timeline: info.and_then(|i| i.timeline),
        target_time,
    }
}

#[cfg(test)]
mod tests;
