//! The real Kubernetes control plane under the sandbox: etcd, kube-apiserver and
//! kube-controller-manager built from their Go modules (`world/`), each a child process on the
//! sandbox's own loopback address, with a fresh PKI, the real CRDs loaded, and an admin
//! kubeconfig at `DIR/kubeconfig`.
pub mod binaries;
pub mod crds;
pub mod flags;
pub mod kubeconfig;
pub mod lease;
pub mod pki;
pub mod process;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use binaries::Binaries;
use lease::{AddressLease, APISERVER_PORT};
use pki::{Identity, Pki};
use process::Component;

/// The user `DIR/kubeconfig` authenticates as (clients: cnpgops, kubectl, tests).
pub const ADMIN_USER: &str = "cnpgops-sandbox-admin";
/// The user the sandbox's own controllers act as (never faulted).
pub const WORLD_USER: &str = "cnpgops-sandbox-world";

/// How long the apiserver may take to become ready (cold caches, a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running control plane.
pub struct ControlPlane {
    pub url: String,
    pub ip: Ipv4Addr,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// The sandbox's own controllers' kubeconfig (user [`WORLD_USER`]).
    pub world_kubeconfig: PathBuf,
    pub client: Client,
    pub pki: Pki,
    /// Started first, stopped last.
    components: Vec<Component>,
    _lease: AddressLease,
}

impl ControlPlane {
    /// Starts etcd, the apiserver and the controller manager under `dir`, and waits until the
    /// apiserver is ready. Dropping the future part-way kills what it started.
    pub async fn start(dir: &Path) -> anyhow::Result<ControlPlane> {
        Self::start_with_crds(dir, &[]).await
    }

    /// As `start`, loading the CRDs of the directories `crds` before the controller manager
    /// starts (its garbage collector then knows their types from the first moment, instead of
    /// after its 30 s rediscovery).
    pub async fn start_with_crds(
        dir: &Path,
        crds: &[std::path::PathBuf],
    ) -> anyhow::Result<ControlPlane> {
        let bins = Binaries::find()?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let lease = lease::lease()?;
        let ip = lease.ip;
        let url = format!("https://{ip}:{APISERVER_PORT}");
        let pki = Pki::create(&dir.join("pki"))?;
        let names = pki::apiserver_names(&[IpAddr::V4(ip)], IpAddr::V4(flags::SERVICE_IP));
        let serving = pki.serving("apiserver", "kube-apiserver", &names)?;
        let kubelet_client = pki.client(
            "apiserver-kubelet-client",
            &Identity {
                user: "kube-apiserver-kubelet-client",
                groups: &["system:masters"],
            },
        )?;
        let admin = pki.client(
            "admin",
            &Identity {
                user: ADMIN_USER,
                groups: &["system:masters"],
            },
        )?;
        let world = pki.client(
            "world",
            &Identity {
                user: WORLD_USER,
                groups: &["system:masters"],
            },
        )?;
        let kcm = pki.client(
            "controller-manager",
            &Identity {
                user: "system:kube-controller-manager",
                groups: &[],
            },
        )?;
        let kubeconfig = dir.join("kubeconfig");
        kubeconfig::write_atomic(
            &kubeconfig,
            &kubeconfig::render(&url, &pki.ca.cert, &admin)?,
        )?;
        let world_kubeconfig = pki.dir.join("world.kubeconfig");
        kubeconfig::write_atomic(
            &world_kubeconfig,
            &kubeconfig::render(&url, &pki.ca.cert, &world)?,
        )?;
        let kcm_config = pki.dir.join("controller-manager.kubeconfig");
        kubeconfig::write_atomic(&kcm_config, &kubeconfig::render(&url, &pki.ca.cert, &kcm)?)?;

        let logs = dir.join("logs");
        let mut components = vec![Component::spawn(
            "etcd",
            &bins.etcd,
            &flags::etcd(ip, &dir.join("etcd")),
            &logs,
        )?];
        let files = flags::ApiserverFiles {
            ca: &pki.ca.cert,
            serving: &serving,
            kubelet_client: &kubelet_client,
            sa_key: &pki.sa_key(),
            sa_pub: &pki.sa_pub(),
        };
        components.push(Component::spawn(
            "kube-apiserver",
            &bins.kube_apiserver,
            &flags::apiserver(ip, &files),
            &logs,
        )?);
        let client = client_for(&kubeconfig).await?;
        wait_ready(&client, &mut components).await?;
        for d in crds {
            crds::load_dir(&client, d).await?;
        }
        components.push(Component::spawn(
            "kube-controller-manager",
            &bins.kube_controller_manager,
            &flags::controller_manager(&kcm_config, &pki.ca.cert, &pki.sa_key()),
            &logs,
        )?);
        wait_controllers(&client, &mut components).await?;
        Ok(ControlPlane {
            url,
            ip,
            dir: dir.to_path_buf(),
            kubeconfig,
            world_kubeconfig,
            client,
            pki,
            components,
            _lease: lease,
        })
    }

    /// The components' process ids (for leak checks).
    pub fn pids(&self) -> Vec<u32> {
        self.components.iter().filter_map(Component::pid).collect()
    }

    /// Pauses (SIGSTOP) or continues component `name` (`kube-controller-manager`, ...).
    pub fn pause(&self, name: &str, paused: bool) -> anyhow::Result<()> {
        let c = self.components.iter().find(|c| c.name == name);
        c.with_context(|| format!("no component {name}"))?
            .pause(paused)
    }

    /// Compacts etcd's history up to now (what etcd's periodic compaction does): watches and
    /// lists from an older resourceVersion then get 410 Gone.
    pub async fn compact(&self) -> anyhow::Result<i64> {
        compact_etcd(self.ip).await
    }

    /// `Err` naming the first component that has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.components
            .iter_mut()
            .try_for_each(Component::check_alive)
    }

    /// Stops the components, the last started first.
    pub async fn stop(mut self) {
        while let Some(c) = self.components.pop() {
            c.stop(Duration::from_secs(5)).await;
        }
    }
}

/// POSTs `body` to `path` of the JSON gateway of the etcd on `ip`; its answer.
async fn etcd_post(
    ip: Ipv4Addr,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("http://{ip}:{}/v3/kv/{path}", lease::ETCD_CLIENT_PORT);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(url).body(http_body_util::Full::new(bytes::Bytes::from(
        body.to_string(),
    )))?;
    let resp = client.request(req).await?;
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    Ok(serde_json::from_slice(&bytes)?)
}

/// An etcd revision as the gateway writes it (a decimal string; absent is 0).
fn revision(v: &serde_json::Value) -> anyhow::Result<i64> {
    Ok(v.as_str().unwrap_or("0").parse()?)
}

/// Compacts the history of the etcd on `ip` up to its current revision (through etcd's JSON
/// gateway); returns that revision.
pub async fn compact_etcd(ip: Ipv4Addr) -> anyhow::Result<i64> {
    // The current revision, from the header of any read ("/" base64-encoded).
    let range = etcd_post(ip, "range", serde_json::json!({"key": "Lw==", "limit": 1})).await?;
    let rev = revision(&range["header"]["revision"])?;
    etcd_post(ip, "compaction", serde_json::json!({"revision": rev})).await?;
    Ok(rev)
}

/// The etcd key prefixes of the leases the control plane renews on its own.
const RENEWED_ON_THEIR_OWN: [&[u8]; 3] = [
    b"/registry/leases/",
    b"/registry/masterleases/",
    b"/registry/peerserverleases/",
];

/// The newest write (etcd `mod_revision`) among the cluster's stored objects, leaving out
/// what the control plane and controllers renew on their own every few seconds: Leases
/// (`/registry/leases/`: the kube-apiserver's identity, leader elections), the kube-apiserver's
/// endpoint lease (`/registry/masterleases/`) and its peer-endpoint lease
/// (`/registry/peerserverleases/`, renewed every 10 s: a dry run that took longer under load
/// saw it move). A test's "nothing was written" compares two readings (deletions show in the
/// object lists themselves).
pub async fn etcd_last_write(ip: Ipv4Addr) -> anyhow::Result<i64> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let range = etcd_post(
        ip,
        "range",
        serde_json::json!({"key": b64("/registry/"), "range_end": b64("/registry0"), "keys_only": true}),
    )
    .await?;
    let mut newest = 0;
    for kv in range["kvs"].as_array().into_iter().flatten() {
        let key =
            base64::engine::general_purpose::STANDARD.decode(kv["key"].as_str().unwrap_or(""))?;
        if RENEWED_ON_THEIR_OWN.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        newest = newest.max(revision(&kv["mod_revision"])?);
    }
    Ok(newest)
}

/// A client from a kubeconfig file.
pub async fn client_for(path: &Path) -> anyhow::Result<Client> {
    let kc = Kubeconfig::read_from(path)?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// Waits until the kube-controller-manager's controllers have started, as kind does before a
/// cluster is ready: the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap of the
/// `default` namespace exist (their start-up writes would otherwise land in a test's "nothing
/// changed" window). Fails at once if a component exits.
async fn wait_controllers(client: &Client, components: &mut [Component]) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    let t0 = Instant::now();
    let accounts = kube::Api::<ServiceAccount>::namespaced(client.clone(), "default");
    let ca = kube::Api::<ConfigMap>::namespaced(client.clone(), "default");
    loop {
        components.iter_mut().try_for_each(Component::check_alive)?;
        let account = accounts.get_opt("default").await.ok().flatten();
        let root_ca = ca.get_opt("kube-root-ca.crt").await.ok().flatten();
        if account.is_some() && root_ca.is_some() {
            return Ok(());
        }
        if t0.elapsed() > READY_TIMEOUT {
            anyhow::bail!(
                "kube-controller-manager wrote neither ServiceAccount default/default nor \
                 ConfigMap default/kube-root-ca.crt in {}s; see {}",
                READY_TIMEOUT.as_secs(),
                components
                    .last()
                    .map(|c| c.log.display().to_string())
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `/readyz` until it answers `ok`, failing at once if a component exits.
async fn wait_ready(client: &Client, components: &mut [Component]) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut last;
    loop {
        components.iter_mut().try_for_each(Component::check_alive)?;
        let req = http::Request::get("/readyz").body(Vec::new())?;
        match client.request_text(req).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => last = body,
            Err(e) => last = e.to_string(),
        }
        if t0.elapsed() > READY_TIMEOUT {
            anyhow::bail!(
                "kube-apiserver not ready after {}s: {last}; see {}",
                READY_TIMEOUT.as_secs(),
                components
                    .get(1)
                    .map(|c| c.log.display().to_string())
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
