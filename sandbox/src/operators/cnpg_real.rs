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

/// Applies the release manifest and `extra` (the barman-cloud plugin's, see `barman_plugin`),
/// and waits until the operator's and the plugin's Deployments are available (together: the
/// plugin's Pod starts while the operator's does).
pub async fn install(kubeconfig: &Path, extra: &Path, timeout: Duration) -> anyhow::Result<()> {
    let manifest = manifest();
    anyhow::ensure!(
        manifest.exists(),
        "{} is missing: run scripts/setup.sh (world/build.sh cnpg)",
        manifest.display()
    );
    // The operator's namespace first: the plugin's objects live in it.
    for m in [&manifest, &extra.to_path_buf()] {
        kubectl(
            kubeconfig,
            vec![
                "apply".into(),
                "--server-side".into(),
                "--force-conflicts".into(),
                "-f".into(),
                m.display().to_string(),
            ],
        )
        .await?;
    }
    let rollout = |deployment: &str| {
        kubectl(
            kubeconfig,
            vec![
                "-n".into(),
                "cnpg-system".into(),
                "rollout".into(),
                "status".into(),
                format!("deployment/{deployment}"),
                format!("--timeout={}s", timeout.as_secs()),
            ],
        )
    };
    let (operator, plugin) = tokio::join!(
        rollout("cnpg-controller-manager"),
        rollout(super::barman_plugin::NAME)
    );
    operator?;
    plugin
}

/// `kubectl ARGS`; killed if the install is given up part-way (a SIGTERM while starting), so
/// it never outlives the sandbox.
async fn kubectl(kubeconfig: &Path, args: Vec<String>) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(&args)
        .kill_on_drop(true)
        .output()
        .await
        .context("failed to run kubectl")?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}
