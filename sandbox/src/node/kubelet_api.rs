//! Starts the kubelet API server (`world/node`, built by `scripts/setup.sh`) on the node's
//! address, with a serving certificate the apiserver trusts and the cluster CA for its clients.
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::KUBELET_PORT;
use crate::control_plane::binaries::opt_dir;
use crate::control_plane::process::Component;
use crate::control_plane::ControlPlane;

pub async fn start(cp: &ControlPlane, dir: &Path) -> anyhow::Result<Component> {
    let bin = opt_dir().join("node/kubelet-api");
    if !bin.is_file() {
        anyhow::bail!(
            "{} is missing: build it with scripts/setup.sh (or world/build.sh node)",
            bin.display()
        );
    }
    let serving = cp.pki.serving(
        "kubelet",
        "sandbox-kubelet",
        &[cp.ip.to_string(), "sandbox".into()],
    )?;
    let listen = SocketAddr::new(IpAddr::V4(cp.ip), KUBELET_PORT);
    let args = vec![
        format!("-listen={listen}"),
        format!("-node-dir={}", dir.display()),
        format!("-tls-cert={}", serving.cert.display()),
        format!("-tls-key={}", serving.key.display()),
        format!("-client-ca={}", cp.pki.ca.cert.display()),
    ];
    let mut c = Component::spawn("kubelet-api", &bin, &args, &cp.dir.join("logs"))?;
    // Ready once it accepts connections.
    let t0 = Instant::now();
    while tokio::net::TcpStream::connect(listen).await.is_err() {
        c.check_alive()?;
        if t0.elapsed() > Duration::from_secs(20) {
            anyhow::bail!(
                "the kubelet API did not listen on {listen} within 20s; see {}",
                c.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.check_alive().context("kubelet-api")?;
    Ok(c)
}
