//! Where `scripts/setup.sh` (through `world/build.sh`) put the real binaries, and a clear error
//! naming the command that builds them when one is missing.
use std::path::PathBuf;

/// The versions `world/build.sh` builds (a test checks the two agree).
pub const ETCD_VERSION: &str = "3.7.3";
pub const K8S_VERSION: &str = "1.36.3";

/// `$CNPGOPS_OPT`, by default `/opt/cnpgops`.
pub fn opt_dir() -> PathBuf {
    std::env::var_os("CNPGOPS_OPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/cnpgops"))
}

/// The real control plane's programs.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
}

impl Binaries {
    /// The installed binaries, or an error saying how to build them.
    pub fn find() -> anyhow::Result<Binaries> {
        let opt = opt_dir();
        let k8s = opt.join(format!("k8s-{K8S_VERSION}"));
        let b = Binaries {
            etcd: opt.join(format!("etcd-{ETCD_VERSION}/etcd")),
            kube_apiserver: k8s.join("kube-apiserver"),
            kube_controller_manager: k8s.join("kube-controller-manager"),
        };
        for p in [&b.etcd, &b.kube_apiserver, &b.kube_controller_manager] {
            if !p.is_file() {
                anyhow::bail!(
                    "{} is missing: the sandbox runs the real etcd and Kubernetes; build them with \
                     scripts/setup.sh (or world/build.sh etcd k8s)",
                    p.display()
                );
            }
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_the_build_script() {
        let script = include_str!("../../../world/build.sh");
        assert!(script.contains(&format!("ETCD_VERSION={ETCD_VERSION}\n")));
        assert!(script.contains(&format!("K8S_VERSION={K8S_VERSION}\n")));
    }
}
