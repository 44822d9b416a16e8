//! Where a runbook's text came from (embedded or a file) and its content digest.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::RunbookError;

/// The origin of a runbook, stored in checkpoints so `resume` can load it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Embedded in the binary, by file name (`selftest.yaml`).
    Builtin(String),
    File(PathBuf),
}

impl Origin {
    /// `builtin:<file>` or the file path.
    pub(crate) fn to_key(&self) -> String {
        match self {
            Origin::Builtin(name) => format!("builtin:{name}"),
            Origin::File(path) => path.display().to_string(),
        }
    }

    /// Inverse of [`Origin::to_key`].
    pub(crate) fn from_key(key: &str) -> Self {
        match key.strip_prefix("builtin:") {
            Some(name) => Origin::Builtin(name.to_string()),
            None => Origin::File(PathBuf::from(key)),
        }
    }
}

/// A runbook's text, where it came from, and how to name it in messages.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub origin: Origin,
    /// The name used in `file:line:col` messages.
    pub display: String,
    pub text: String,
}

impl Source {
    /// An embedded runbook.
    pub(crate) fn builtin(file: &str, text: &str) -> Self {
        Self {
            origin: Origin::Builtin(file.to_string()),
            display: format!("runbooks/{file}"),
            text: text.to_string(),
        }
    }

    /// Reads a runbook file.
    pub(crate) fn read(path: &Path) -> Result<Self, RunbookError> {
        let text = std::fs::read_to_string(path).map_err(|source| RunbookError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Self {
            origin: Origin::File(absolute),
            display: path.display().to_string(),
            text,
        })
    }

    /// `sha256:<hex>` of the text; resume refuses when it changed.
    pub(crate) fn digest(&self) -> String {
        let hash = Sha256::digest(self.text.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_changes_with_content() {
        let a = Source::builtin("a.yaml", "name: a");
        let b = Source::builtin("a.yaml", "name: b");
        assert!(a.digest().starts_with("sha256:"));
        assert_eq!(a.digest().len(), "sha256:".len() + 64);
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn origin_keys_round_trip() {
        for o in [
            Origin::Builtin("x.yaml".into()),
            Origin::File("/tmp/r.yaml".into()),
        ] {
            assert_eq!(Origin::from_key(&o.to_key()), o);
        }
    }
}
