//! The config file holding naming profiles: `--config FILE`, else
//! `$XDG_CONFIG_HOME/cnpgops/config.yaml` (`~/.config/...`) when it exists.
//!
//! ```yaml
//! profile: shared            # the one used without --profile (default: `default`)
//! profiles:
//!   shared: {prod_cluster: postgresql-shared, cluster: postgresql-shared, ...}
//! ```
//! `default` is always known (seed 000's layout); a file may redefine it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Profile;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// Why the profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("failed to read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("failed to find profile `{name}` in {path} (known: {known})")]
    Unknown {
        name: String,
        path: String,
        known: String,
    },
}

/// The default location, `$XDG_CONFIG_HOME/cnpgops/config.yaml` or `~/.config/cnpgops/...`.
pub(crate) fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("cnpgops").join("config.yaml"))
}

/// The profile named `name` (else the file's `profile:`, else `default`) and its name. An
/// explicit `path` must exist; the default one may be absent.
pub(crate) fn load(
    path: Option<&Path>,
    name: Option<&str>,
) -> Result<(String, Profile), ConfigError> {
    let (file, shown) = match path {
        Some(p) => (read(p)?, p.display().to_string()),
        None => match default_path().filter(|p| p.exists()) {
            Some(p) => (read(&p)?, p.display().to_string()),
            None => (File::default(), "(no config file)".to_string()),
        },
    };
    let wanted = name
        .map(String::from)
        .or(file.profile.clone())
        .unwrap_or_else(|| "default".into());
    if let Some(p) = file.profiles.get(&wanted) {
        return Ok((wanted, p.clone()));
    }
    if wanted == "default" {
        return Ok((wanted, Profile::default()));
    }
    let mut known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
    known.push("default");
    Err(ConfigError::Unknown {
        name: wanted,
        path: shown,
        known: known.join(", "),
    })
}

fn read(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
