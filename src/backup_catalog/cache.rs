//! A local cache of `backup.info` texts, keyed by object key and ETag. barman-cloud uploads a
//! `backup.info` once, last; the listing of `base/` carries every object's ETag, so a cached text
//! is used only while its ETag is unchanged, and a backup gone from the listing is dropped. A
//! cache that cannot be read or written is ignored (the catalog is then read from S3 alone).
//!
//! Where: `$CNPGOPS_CACHE_DIR`, else `$XDG_CACHE_HOME/cnpgops/catalog`, else
//! `~/.cache/cnpgops/catalog`; one JSON file per endpoint, bucket and server. No secret is in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One cached file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub etag: String,
    pub text: String,
}

/// The cache of one store, loaded in memory.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
}

/// The default directory (see the module documentation).
pub(crate) fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CNPGOPS_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("cnpgops").join("catalog"))
}

impl Cache {
    /// A cache that keeps nothing (`--no-cache`).
    pub(crate) fn disabled() -> Self {
        Self::default()
    }

    /// The cache of the store named by `identity` (endpoint, bucket, server root) under `dir`.
    pub(crate) fn open(dir: &Path, identity: &str) -> Self {
        let hash = Sha256::digest(identity.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{hex}.json");
        let path = dir.join(name);
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            path: Some(path),
            entries,
        }
    }

    /// The cached text of `key`, if its ETag is still `etag`.
    pub(crate) fn get(&self, key: &str, etag: &str) -> Option<&str> {
        self.entries
            .get(key)
            .filter(|e| e.etag == etag)
            .map(|e| e.text.as_str())
    }

    /// Replaces the entries with `current` and writes them (best effort, atomically).
    pub(crate) fn store(&mut self, current: BTreeMap<String, Entry>) {
        self.entries = current;
        let Some(path) = &self.path else { return };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec(&self.entries)?)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            tracing::debug!(path = %path.display(), error = %e, "backup.info cache not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_only_match_their_etag() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::open(dir.path(), "http://s3|backups|cnpg/prod/");
        assert_eq!(c.get("k", "e1"), None);
        let entry = Entry {
            etag: "e1".into(),
            text: "status=DONE\n".into(),
        };
        c.store(BTreeMap::from([("k".to_string(), entry)]));
        let again = Cache::open(dir.path(), "http://s3|backups|cnpg/prod/");
        assert_eq!(again.get("k", "e1"), Some("status=DONE\n"));
        assert_eq!(again.get("k", "e2"), None, "changed object");
        let other = Cache::open(dir.path(), "http://s3|backups|cnpg/dev/");
        assert_eq!(other.get("k", "e1"), None, "another store");
        let mut off = Cache::disabled();
        off.store(BTreeMap::new());
        assert_eq!(off.get("k", "e1"), None);
    }
}
