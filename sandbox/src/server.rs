//! Starting and stopping the sandbox: the real control plane, the cluster client the world's
//! controllers share, the node agent, the operators (CloudNativePG real, Argo CD simulated), the world's processes, and the
//! files clients read (`DIR/kubeconfig`, `DIR/state.json`).
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::control_plane::kubeconfig::write_atomic;
use crate::control_plane::{client_for, ControlPlane, ADMIN_USER};
use crate::faults::{webhook, Faults};
use crate::logs::LogStore;
use crate::node::pods::{self, RunnerConfig};
use crate::node::NodeAgent;
use crate::world::World;

/// Where the CRDs the sandbox serves from its start come from: CloudNativePG's own, as
/// `world/build.sh` copies them from the module it builds (`config/crd/bases`); the barman-cloud
/// plugin's ObjectStore from the plugin's release manifest (the one its install applies); and
/// Argo CD's Application (`sandbox/crds`).
pub fn crd_sources() -> [PathBuf; 3] {
    let opt = crate::control_plane::binaries::opt_dir();
    [
        opt.join("cnpg-1.30.0/crds"),
        crate::operators::barman_plugin::dir().join("manifest.yaml"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crds"),
    ]
}

/// A running sandbox.
pub struct Sandbox {
    /// The cluster as the sandbox's own controllers see it (an admin API client).
    pub api: Arc<Cluster>,
    pub url: String,
    pub dir: PathBuf,
    cp: Option<ControlPlane>,
    node: Option<NodeAgent>,
    controllers: Vec<tokio::task::JoinHandle<()>>,
    /// The real processes behind the objects (database servers, S3).
    pub world: Arc<World>,
    /// Planned API failures for clients (see [`crate::faults`]).
    pub faults: Arc<Faults>,
}

/// Which CloudNativePG operator the sandbox runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Cnpg {
    /// The real operator 1.30.0 from its release manifest, its Pods run by the node agent.
    Real,
    /// No CloudNativePG at all (its CRDs are there): plain Kubernetes and Argo CD, for what
    /// needs no database.
    None,
}

impl Sandbox {
    /// Starts everything under `dir` and writes its files (the port is that of the apiserver on
    /// the sandbox's own address; `_port` is kept for the command line and ignored). Needs a
    /// multi-thread runtime: the controllers block on their writes.
    pub async fn start(dir: &Path, _port: u16) -> anyhow::Result<Sandbox> {
        let world = World::new(dir)?;
        Self::start_with(dir, world).await
    }

    /// As `start`, with a world the caller holds (so it can stop the world's processes if it
    /// gives up on a start part-way, e.g. on SIGTERM).
    pub async fn start_with(dir: &Path, world: Arc<World>) -> anyhow::Result<Sandbox> {
        Self::start_with_cnpg(dir, world, Cnpg::Real).await
    }

    /// As `start_with`, choosing which CloudNativePG operator runs.
    pub async fn start_with_cnpg(
        dir: &Path,
        world: Arc<World>,
        cnpg: Cnpg,
    ) -> anyhow::Result<Sandbox> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let cp = ControlPlane::start_with_crds(dir, &crd_sources()).await?;
        let node_dir = dir.join("node");
        let logs = Arc::new(LogStore::with_dir(node_dir.join("logs")));
        let faults = Arc::new(Faults::default());
        let (hook, hook_task) =
            webhook::serve(faults.clone(), ADMIN_USER.into(), &cp.pki, cp.ip.into()).await?;
        webhook::register(&cp.client, hook, &cp.pki).await?;
        let client = client_for(&cp.world_kubeconfig).await?;
        let api = Cluster::connect(client, logs).await?;
        let node = NodeAgent::start(&api, &cp, &node_dir, dir).await?;
        let mut controllers = vec![
            hook_task,
            pods::spawn(
                api.clone(),
                RunnerConfig::new(
                    dir.to_path_buf(),
                    cp.ip,
                    crate::control_plane::lease::APISERVER_PORT,
                ),
            ),
        ];
        controllers.push(crate::operators::argocd::spawn(api.clone()));
        if cnpg == Cnpg::Real {
            let plugin = crate::operators::barman_plugin::prepare(&cp.pki, dir)?;
            let t0 = std::time::Instant::now();
            crate::operators::cnpg_real::install(&cp.kubeconfig, &plugin, Duration::from_secs(180))
                .await?;
            tracing::info!(
                "CloudNativePG and the barman-cloud plugin available in {:.1}s",
                t0.elapsed().as_secs_f64()
            );
        }
        let state = json!({"api": cp.url, "kubeconfig": cp.kubeconfig, "pid": std::process::id()});
        write_atomic(
            &dir.join("state.json"),
            &serde_json::to_string_pretty(&state)?,
        )?;
        Ok(Sandbox {
            api,
            url: cp.url.clone(),
            dir: dir.to_path_buf(),
            cp: Some(cp),
            node: Some(node),
            controllers,
            world,
            faults,
        })
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The sandbox's own address (the apiserver's, etcd's and the node's).
    pub fn ip(&self) -> Option<std::net::Ipv4Addr> {
        self.cp.as_ref().map(|cp| cp.ip)
    }

    /// Compacts etcd (older resourceVersions get 410 Gone); the revision compacted to.
    pub async fn compact(&self) -> anyhow::Result<i64> {
        match &self.cp {
            Some(cp) => cp.compact().await,
            None => anyhow::bail!("the sandbox is stopped"),
        }
    }

    /// Every object (see [`Cluster::everything`]) and the revision of the newest write to any
    /// stored object but the Leases renewed on their own
    /// ([`crate::control_plane::etcd_last_write`]).
    pub async fn everything(&self) -> anyhow::Result<(Vec<Value>, u64)> {
        let objects = self.api.everything().await;
        let rev =
            crate::control_plane::etcd_last_write(self.ip().context("the sandbox is stopped")?)
                .await?;
        Ok((objects, rev as u64))
    }

    /// Pauses (SIGSTOP) or continues a control-plane component, e.g. `kube-controller-manager`:
    /// the job controller then writes no Job condition and creates no Pod until continued.
    pub fn pause_component(&self, name: &str, paused: bool) -> anyhow::Result<()> {
        let cp = self.cp.as_ref().context("the control plane is stopped")?;
        cp.pause(name, paused)
    }

    /// The process ids of the control plane's components.
    pub fn control_plane_pids(&self) -> Vec<u32> {
        self.cp.as_ref().map(ControlPlane::pids).unwrap_or_default()
    }

    /// Stops the controllers, the Pods' processes, the world, the node agent and the control
    /// plane, in that order.
    pub async fn stop(mut self) {
        for c in &self.controllers {
            c.abort();
        }
        self.api.close();
        pods::kill_all(&self.dir);
        self.world.shutdown().await;
        if let Some(n) = self.node.take() {
            n.stop().await;
        }
        if let Some(cp) = self.cp.take() {
            cp.stop().await;
        }
    }
}

/// Stops what a start that was given up part-way may have left: the Pods' processes and the
/// world's servers (the control plane's processes die with the sandbox: PR_SET_PDEATHSIG).
pub async fn abandon(dir: &Path, world: &World) {
    pods::kill_all(dir);
    world.shutdown().await;
}
