//! The runbooks cnpgops knows ([`KnownRunbooks`]): those embedded from `runbooks/` plus those in `--runbooks-dir`.

use std::path::{Path, PathBuf};

use super::error::RunbookError;
use super::source::{Origin, Source};

/// Every file of `runbooks/`, embedded in the binary. A test checks this list is complete.
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    (
        "migration-resync.yaml",
        include_str!("../../runbooks/migration-resync.yaml"),
    ),
    (
        "refresh-dev.yaml",
        include_str!("../../runbooks/refresh-dev.yaml"),
    ),
    (
        "refresh-dev-recovery.yaml",
        include_str!("../../runbooks/refresh-dev-recovery.yaml"),
    ),
    ("restore.yaml", include_str!("../../runbooks/restore.yaml")),
    (
        "selftest.yaml",
        include_str!("../../runbooks/selftest.yaml"),
    ),
];

/// Finds runbooks by name (file stem) or path.
#[derive(Debug, Clone, Default)]
pub(crate) struct KnownRunbooks {
    dirs: Vec<PathBuf>,
}

impl KnownRunbooks {
    /// The embedded runbooks plus those in `dirs` (which win over embedded ones of the same name).
    pub(crate) fn new(dirs: Vec<PathBuf>) -> Self {
        Self { dirs }
    }

    /// Every known runbook source, user directories first.
    pub(crate) fn sources(&self) -> Result<Vec<Source>, RunbookError> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            for path in yaml_files(dir)? {
                out.push(Source::read(&path)?);
            }
        }
        out.extend(
            BUILTIN
                .iter()
                .map(|(file, text)| Source::builtin(file, text)),
        );
        Ok(out)
    }

    /// A path to an existing file, or the name of a known runbook (`selftest`).
    pub(crate) fn resolve(&self, name_or_path: &str) -> Result<Source, RunbookError> {
        let path = Path::new(name_or_path);
        if path.is_file() {
            return Source::read(path);
        }
        for dir in &self.dirs {
            for ext in ["yaml", "yml"] {
                let candidate = dir.join(format!("{name_or_path}.{ext}"));
                if candidate.is_file() {
                    return Source::read(&candidate);
                }
            }
        }
        let stem = name_or_path.trim_end_matches(".yaml");
        BUILTIN
            .iter()
            .find(|(file, _)| file.trim_end_matches(".yaml") == stem)
            .map(|(file, text)| Source::builtin(file, text))
            .ok_or_else(|| RunbookError::NotFound {
                name: name_or_path.to_string(),
            })
    }

    /// Loads a source again from a checkpoint's origin key.
    pub(crate) fn reopen(&self, origin_key: &str) -> Result<Source, RunbookError> {
        match Origin::from_key(origin_key) {
            Origin::File(path) => Source::read(&path),
            Origin::Builtin(file) => BUILTIN
                .iter()
                .find(|(f, _)| *f == file)
                .map(|(f, text)| Source::builtin(f, text))
                .ok_or(RunbookError::NotFound { name: file }),
        }
    }
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, RunbookError> {
    let read_err = |source| RunbookError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_builtin_by_name_and_reopens_by_key() {
        let c = KnownRunbooks::default();
        let s = c.resolve("selftest").unwrap();
        assert_eq!(s.display, "runbooks/selftest.yaml");
        let again = c.reopen(&s.origin.to_key()).unwrap();
        assert_eq!(again.digest(), s.digest());
    }

    #[test]
    fn user_dir_overrides_and_unknown_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.yaml"), "name: mine").unwrap();
        let c = KnownRunbooks::new(vec![dir.path().to_path_buf()]);
        assert!(matches!(c.resolve("mine").unwrap().origin, Origin::File(_)));
        assert!(matches!(
            c.resolve("nope"),
            Err(RunbookError::NotFound { .. })
        ));
        assert_eq!(c.sources().unwrap().len(), BUILTIN.len() + 1);
    }
}
