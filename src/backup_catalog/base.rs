//! Base backups: one listing of `base/` gives the backup IDs and each `backup.info`'s ETag, then
//! every `backup.info` is read (from the cache at an unchanged ETag, else from S3, several at a
//! time, order kept). A missing or unreadable file does not
//! fail the catalog: the backup is shown with the reason and never chosen.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::backup_info::{self, BackupInfo, Status};
use super::cache::{Cache, Entry};
use super::error::CatalogError;
use super::layout::Layout;
use super::s3::{Object, S3};

/// `backup.info` reads in flight at once.
pub(crate) const CONCURRENCY: usize = 32;

/// One directory under `base/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Backup {
    /// The directory name: barman's backup ID (`YYYYMMDDTHHMMSS`).
    pub id: String,
    /// `DONE`, `FAILED`, ..., or `NO_INFO` / `UNREADABLE` (see [`Backup::status`]).
    pub status: String,
    /// Whether a restore may start from it (see [`Backup::usable`]).
    pub usable: bool,
    /// The parsed file; `None` when it is missing or unreadable (see `problem`).
    pub info: Option<BackupInfo>,
    /// Why `info` is missing.
    pub problem: Option<String>,
}

impl Backup {
    /// `DONE`, `FAILED`, ..., or `NO_INFO` / `UNREADABLE`.
    pub(crate) fn status(&self) -> &str {
        match (&self.info, &self.problem) {
            (Some(i), _) => i.status.as_str(),
            (None, Some(p)) if p.starts_with("no backup.info") => "NO_INFO",
            (None, _) => "UNREADABLE",
        }
    }

    /// Whether a restore may start from it: `DONE` with an end time and end WAL.
    pub(crate) fn usable(&self) -> bool {
        self.info.as_ref().is_some_and(|i| {
            i.status == Status::Done && i.end_time.is_some() && i.end_wal.is_some()
        })
    }
}

/// A `backup.info`'s key and ETag.
pub(crate) type InfoKey = (String, Option<String>);

/// The `backup.info` of each backup directory under `base`, from a listing.
pub(crate) type Dirs = BTreeMap<String, Option<InfoKey>>;

/// Backup directories (the first key component after `base`) and their `backup.info`.
pub(crate) fn dirs(base: &str, objects: &[Object]) -> Dirs {
    let mut out = Dirs::new();
    for o in objects {
        let Some((id, rest)) = o.key.strip_prefix(base).and_then(|r| r.split_once('/')) else {
            continue;
        };
        let slot = out.entry(id.to_string()).or_default();
        if rest == "backup.info" {
            *slot = Some((o.key.clone(), o.etag.clone()));
        }
    }
    out
}

/// Every base backup of the server, in ID order: one listing of `base/` (per 1,000 objects)
/// and a GET per `backup.info` the cache does not hold at its current ETag.
pub(crate) async fn read(
    s3: &S3,
    layout: &Layout,
    cache: &mut Cache,
) -> Result<Vec<Backup>, CatalogError> {
    let base = layout.base();
    let found = dirs(&base, &s3.list(&base, None).await?);
    let cached = &*cache;
    let texts: Vec<(String, Option<InfoKey>, Option<String>)> = stream::iter(found)
        .map(|(id, info)| async move {
            let text = match &info {
                None => None,
                Some((key, etag)) => match etag.as_deref().and_then(|e| cached.get(key, e)) {
                    Some(t) => Some(t.to_string()),
                    None => s3.get_text(key).await?,
                },
            };
            Ok::<_, CatalogError>((id, info, text))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut keep = BTreeMap::new();
    let mut backups = Vec::with_capacity(texts.len());
    for (id, info, text) in texts {
        if let (Some((key, Some(etag))), Some(text)) = (info, &text) {
            keep.insert(
                key,
                Entry {
                    etag,
                    text: text.clone(),
                },
            );
        }
        backups.push(judge(id, text));
    }
    cache.store(keep);
    Ok(backups)
}

/// A backup from its directory name and the text of its `backup.info` (if any).
pub(crate) fn judge(id: String, text: Option<String>) -> Backup {
    let (info, problem) = match text.map(|t| backup_info::parse(&t)) {
        None => (
            None,
            Some("no backup.info (still running, or deleted)".to_string()),
        ),
        Some(Ok(info)) => (Some(info), None),
        Some(Err(e)) => (None, Some(format!("backup.info is unreadable: {e}"))),
    };
    let mut b = Backup {
        id,
        status: String::new(),
        usable: false,
        info,
        problem,
    };
    b.status = b.status().to_string();
    b.usable = b.usable();
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_from_a_listing() {
        let o = |key: &str, etag: Option<&str>| Object {
            key: key.into(),
            last_modified: None,
            size: 1,
            etag: etag.map(String::from),
        };
        let base = "cnpg/prod/base/";
        let listing = vec![
            o("cnpg/prod/base/20240101T000000/backup.info", Some("\"e1\"")),
            o("cnpg/prod/base/20240101T000000/data.tar", None),
            o("cnpg/prod/base/20240102T000000/data_0001.tar", None),
            o("cnpg/prod/base/stray", None),
        ];
        let d = dirs(base, &listing);
        assert_eq!(d.len(), 2);
        let first = d["20240101T000000"].clone().unwrap();
        assert_eq!(first.0, "cnpg/prod/base/20240101T000000/backup.info");
        assert_eq!(first.1.as_deref(), Some("\"e1\""));
        assert_eq!(d["20240102T000000"], None, "no backup.info");
    }

    #[test]
    fn only_done_backups_with_an_end_are_usable() {
        let done = judge(
            "a".into(),
            Some(include_str!("backup_info/done.info").into()),
        );
        assert!(done.usable());
        assert_eq!(done.status(), "DONE");
        let failed = judge(
            "b".into(),
            Some(include_str!("backup_info/failed.info").into()),
        );
        assert!(!failed.usable());
        assert_eq!(failed.status(), "FAILED");
        let missing = judge("c".into(), None);
        assert_eq!(missing.status(), "NO_INFO");
        assert!(!missing.usable());
        let broken = judge("d".into(), Some("garbage".into()));
        assert_eq!(broken.status(), "UNREADABLE");
        let started = judge("e".into(), Some("status=DONE\n".into()));
        assert!(!started.usable(), "DONE without an end time is not usable");
    }
}
