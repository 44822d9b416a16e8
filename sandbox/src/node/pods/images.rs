//! Images, where none can be pulled: what the images of CloudNativePG 1.30.0 hold, laid over the
//! host's root in each container's mount namespace. The operator image gives `/manager` and
//! `/operator/manager_<arch>` (the manager built from its Go module by `scripts/setup.sh`); a
//! `ghcr.io/cloudnative-pg/postgresql:15*` image gives PostgreSQL 15 (Debian's) and barman-cloud
//! on PATH and the `postgres` user with uid/gid 26. The barman-cloud plugin's images (v0.14.0)
//! give its `/manager` (built by `world/build.sh plugin`), the sidecar's also barman-cloud. cnpgops' own image (`deploy/Dockerfile`,
//! [`CNPGOPS_IMAGE`], any tag) gives `/usr/local/bin/cnpgops` as its entrypoint: the binary a
//! test registers with [`provide_cnpgops`] (or `$CNPGOPS_SANDBOX_CNPGOPS_BIN` names for
//! `cnpgops-sandbox up`); unknown while neither says where it is. Any other image runs its
//! command on the host's programs (an application image without a command idles, see
//! `process`).
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What an image adds to a container.
#[derive(Default, Debug, Clone)]
pub struct ImageRoot {
    /// (host file, path in the container)
    pub files: Vec<(PathBuf, String)>,
    /// Directories put first on PATH.
    pub path: Vec<PathBuf>,
    /// The image's `postgres` user (uid, gid) to add to `/etc/passwd`.
    pub postgres_user: Option<(u32, u32)>,
    /// The image's ENTRYPOINT: what runs, before the container's args, when it has no command.
    pub entrypoint: Vec<String>,
}

/// The operator image this sandbox can run (the version built by `world/build.sh`).
pub const OPERATOR_IMAGE: &str = "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0";
/// The PostgreSQL image prefix for the one major version Debian offers here.
pub const POSTGRES_IMAGE: &str = "ghcr.io/cloudnative-pg/postgresql:15";
/// The barman-cloud plugin's images (v0.14.0; its module's `manifest.yaml` names the
/// `-testing` builds of the same code), without their tags: the plugin (the operator part) and
/// its instance sidecar. Both hold the one `/manager` binary as their entrypoint.
pub const PLUGIN_IMAGES: [&str; 2] = [
    "ghcr.io/cloudnative-pg/plugin-barman-cloud",
    "ghcr.io/cloudnative-pg/plugin-barman-cloud-testing",
];
/// The sidecar images (the plugin's binary plus barman-cloud on PATH), without their tags.
pub const PLUGIN_SIDECAR_IMAGES: [&str; 2] = [
    "ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar",
    "ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar-testing",
];
/// cnpgops' image as `deploy/` names it, without its tag.
pub const CNPGOPS_IMAGE: &str = "ghcr.io/synestra/cnpgops";
/// Where the cnpgops binary to run as [`CNPGOPS_IMAGE`] is, when no test registered one.
pub const CNPGOPS_BIN_ENV: &str = "CNPGOPS_SANDBOX_CNPGOPS_BIN";
/// Where the binary sits in the image, its entrypoint (`deploy/Dockerfile`).
const CNPGOPS_ENTRYPOINT: &str = "/usr/local/bin/cnpgops";

static CNPGOPS_BIN: OnceLock<PathBuf> = OnceLock::new();

/// Makes [`CNPGOPS_IMAGE`] run `bin` (the cnpgops the tests built), for every sandbox of this
/// process; the first registration wins.
pub fn provide_cnpgops(bin: impl Into<PathBuf>) {
    let _ = CNPGOPS_BIN.set(bin.into());
}

/// The cnpgops binary the image holds: the registered one, else `$CNPGOPS_SANDBOX_CNPGOPS_BIN`.
fn cnpgops_bin() -> Option<PathBuf> {
    CNPGOPS_BIN
        .get()
        .cloned()
        .or_else(|| std::env::var_os(CNPGOPS_BIN_ENV).map(PathBuf::from))
}

/// Whether `image` is `repository` with a tag or digest, or bare.
fn is_of(image: &str, repository: &str) -> bool {
    image
        .strip_prefix(repository)
        .is_some_and(|tag| tag.is_empty() || tag.starts_with(':') || tag.starts_with('@'))
}

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
    let plugin = PLUGIN_IMAGES.iter().any(|r| is_of(image, r));
    let sidecar = PLUGIN_SIDECAR_IMAGES.iter().any(|r| is_of(image, r));
    if plugin || sidecar {
        let manager = opt().join("plugin-barman-cloud-0.14.0/manager");
        let mut root = ImageRoot {
            files: vec![(manager, "/manager".into())],
            entrypoint: vec!["/manager".into()],
            ..Default::default()
        };
        if sidecar {
            // The sidecar image's Python venv with barman-cloud, first on its PATH; it runs as
            // the instance's uid/gid 26 (`USER 26:26`).
            root.path = vec![barman_venv().join("bin")];
            root.postgres_user = Some((26, 26));
        }
        return Some(root);
    }
    if is_of(image, CNPGOPS_IMAGE) {
        return Some(ImageRoot {
            files: vec![(cnpgops_bin()?, CNPGOPS_ENTRYPOINT.into())],
            entrypoint: vec![CNPGOPS_ENTRYPOINT.into()],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnpgops_image_runs_the_registered_binary_as_its_entrypoint() {
        provide_cnpgops("/built/cnpgops");
        for image in [
            "ghcr.io/synestra/cnpgops:0.1.0",
            "ghcr.io/synestra/cnpgops@sha256:00",
        ] {
            let root = of(image).unwrap();
            assert_eq!(root.entrypoint, ["/usr/local/bin/cnpgops"]);
            assert_eq!(
                root.files,
                [("/built/cnpgops".into(), "/usr/local/bin/cnpgops".into())]
            );
        }
        assert!(of("ghcr.io/synestra/cnpgops-other:1").is_none());
    }

    #[test]
    fn plugin_images_run_the_built_plugin_and_only_the_sidecar_has_barman_cloud() {
        let plugin = of("ghcr.io/cloudnative-pg/plugin-barman-cloud-testing:main").unwrap();
        assert_eq!(plugin.entrypoint, ["/manager"]);
        assert!(plugin.files[0]
            .0
            .ends_with("plugin-barman-cloud-0.14.0/manager"));
        assert!(plugin.path.is_empty());
        let sidecar = of("ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar:v0.14.0").unwrap();
        assert_eq!(sidecar.entrypoint, ["/manager"]);
        assert!(sidecar.path[0].ends_with("bin"));
        assert_eq!(sidecar.postgres_user, Some((26, 26)));
        assert!(of("ghcr.io/cloudnative-pg/plugin-barman-cloud-other:1").is_none());
    }
}
