//! The real CloudNativePG operator (1.30.0, built from its Go module by `scripts/setup.sh`),
//! installed from its own release manifest as `kubectl apply --server-side -f cnpg-1.30.0.yaml`
//! does on a cluster: its Deployment runs as a Pod of the node agent (the image's `/manager` is
//! the built binary), with its RBAC, its webhooks (called at the webhook Service's endpoint)
//! and its own PKI.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// The release manifest `world/build.sh` copies from the module.
pub fn manifest() -> PathBuf {
    crate::control_plane::binaries::opt_dir().join("cnpg-1.30.0/cnpg-1.30.0.yaml")
}

/// Applies the release manifest and waits until the operator's Deployment is available.
pub async fn install(kubeconfig: &Path, timeout: Duration) -> anyhow::Result<()> {
    let manifest = manifest();
    anyhow::ensure!(
        manifest.exists(),
        "{} is missing: run scripts/setup.sh (world/build.sh cnpg)",
        manifest.display()
    );
    let kubectl = |args: Vec<String>| {
        let kubeconfig = kubeconfig.to_path_buf();
        async move {
            let out = tokio::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(&args)
                .output()
                .await
                .context("failed to run kubectl")?;
            anyhow::ensure!(
                out.status.success(),
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            Ok::<_, anyhow::Error>(())
        }
    };
    kubectl(vec![
        "apply".into(),
        "--server-side".into(),
        "--force-conflicts".into(),
        "-f".into(),
        manifest.display().to_string(),
    ])
    .await?;
    kubectl(vec![
        "-n".into(),
        "cnpg-system".into(),
        "rollout".into(),
        "status".into(),
        "deployment/cnpg-controller-manager".into(),
        format!("--timeout={}s", timeout.as_secs()),
    ])
    .await
}
