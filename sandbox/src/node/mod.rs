//! The node agent: the kubelet's job without containers or images. It registers the Node
//! `sandbox` (Ready), binds the Pods no scheduler binds (there is none), provisions volumes for claims, runs the Pods bound to
//! it as host processes (`pods`), and serves the kubelet API the apiserver calls for
//! `kubectl logs` and port-forward (`world/node`, Go: the kubelet's own SPDY port-forward).
pub mod binder;
pub mod kubelet_api;
pub mod pods;
pub mod provisioner;
pub mod registration;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cluster::Cluster;
use crate::control_plane::process::Component;
use crate::control_plane::ControlPlane;

/// The one node's name (every Pod runs on it).
pub const NODE: &str = "sandbox";
/// The kubelet port on the node's address.
pub const KUBELET_PORT: u16 = 10250;

pub struct NodeAgent {
    pub dir: PathBuf,
    kubelet_api: Option<Component>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl NodeAgent {
    /// Registers the node, starts the kubelet API and the binder. `dir` holds what the kubelet
    /// API reads (`pods/<ns>/<pod>/address`, `logs/...`).
    pub async fn start(
        cluster: &Arc<Cluster>,
        cp: &ControlPlane,
        dir: &Path,
        sandbox_dir: &Path,
    ) -> anyhow::Result<NodeAgent> {
        std::fs::create_dir_all(dir)?;
        registration::register(cluster, cp.ip).await?;
        let kubelet_api = kubelet_api::start(cp, dir).await?;
        let tasks = vec![
            binder::spawn(cluster.clone(), dir.to_path_buf()),
            provisioner::spawn(cluster.clone(), sandbox_dir.to_path_buf()),
        ];
        Ok(NodeAgent {
            dir: dir.to_path_buf(),
            kubelet_api: Some(kubelet_api),
            tasks,
        })
    }

    pub async fn stop(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(k) = self.kubelet_api.take() {
            k.stop(std::time::Duration::from_secs(2)).await;
        }
    }
}
