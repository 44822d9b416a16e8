//! Images, where none can be pulled: what the images of CloudNativePG 1.30.0 hold, laid over the
//! host's root in each container's mount namespace. The operator image gives `/manager` and
//! `/operator/manager_<arch>` (the manager built from its Go module by `scripts/setup.sh`); a
//! `ghcr.io/cloudnative-pg/postgresql:15*` image gives PostgreSQL 15 (Debian's) and barman-cloud
//! on PATH and the `postgres` user with uid/gid 26. Any other image runs its command on the
//! host's programs (an application image without a command idles, see `process`).
use std::path::{Path, PathBuf};

/// What an image adds to a container.
#[derive(Default, Debug, Clone)]
pub struct ImageRoot {
    /// (host file, path in the container)
    pub files: Vec<(PathBuf, String)>,
    /// Directories put first on PATH.
    pub path: Vec<PathBuf>,
    /// The image's `postgres` user (uid, gid) to add to `/etc/passwd`.
    pub postgres_user: Option<(u32, u32)>,
}

/// The operator image this sandbox can run (the version built by `world/build.sh`).
pub const OPERATOR_IMAGE: &str = "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0";
/// The PostgreSQL image prefix for the one major version Debian offers here.
pub const POSTGRES_IMAGE: &str = "ghcr.io/cloudnative-pg/postgresql:15";

fn opt() -> PathBuf {
    crate::control_plane::binaries::opt_dir()
}

/// What `image` provides, or None for an image not known here.
pub fn of(image: &str) -> Option<ImageRoot> {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    if image == OPERATOR_IMAGE {
        let manager = opt().join("cnpg-1.30.0/manager");
        return Some(ImageRoot {
            files: vec![
                (manager.clone(), "/manager".into()),
                (manager, format!("/operator/manager_{arch}")),
            ],
            ..Default::default()
        });
    }
    let tag = image.strip_prefix(POSTGRES_IMAGE)?;
    if !(tag.is_empty() || tag.starts_with('.') || tag.starts_with('-') || tag.starts_with('@')) {
        return None;
    }
    Some(ImageRoot {
        path: vec![
            PathBuf::from("/usr/lib/postgresql/15/bin"),
            barman_venv().join("bin"),
        ],
        postgres_user: Some((26, 26)),
        ..Default::default()
    })
}

fn barman_venv() -> PathBuf {
    std::env::var_os("CNPGOPS_BARMAN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| opt().join("venv-barman"))
}

/// `/etc/passwd` for a container of this image: the host's, with the image's `postgres` user
/// in place of the host's own. None when the host's file serves.
pub fn passwd(root: &ImageRoot) -> Option<String> {
    let (uid, gid) = root.postgres_user?;
    let host = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut out: String = host
        .lines()
        .filter(|l| !l.starts_with("postgres:"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!(
        "postgres:x:{uid}:{gid}:PostgreSQL administrator:/var/lib/postgresql:/bin/sh\n"
    ));
    Some(out)
}

/// `/etc/group` likewise: the image's `postgres` group in place of any host group with its gid.
pub fn group(root: &ImageRoot) -> Option<String> {
    let (_, gid) = root.postgres_user?;
    let host = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let mut out: String = host
        .lines()
        .filter(|l| !l.starts_with("postgres:") && l.split(':').nth(2) != Some(&gid.to_string()))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("postgres:x:{gid}:\n"));
    Some(out)
}

/// Writes the files an image needs generated into `dir`; returns their mounts.
pub fn generated(root: &ImageRoot, dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out = vec![];
    for (name, text) in [("passwd", passwd(root)), ("group", group(root))] {
        if let Some(text) = text {
            let p = dir.join(name);
            std::fs::write(&p, text)?;
            out.push((p, format!("/etc/{name}")));
        }
    }
    Ok(out)
}
