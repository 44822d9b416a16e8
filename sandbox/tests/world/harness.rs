//! A sandbox per test, a kube client for it, and helpers to create Clusters, wait for them,
//! and reach their servers with psql.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cnpgops_sandbox::Sandbox;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use kube::api::{DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::runtime::wait::await_condition;
use kube::{Api, Client, Config};
use serde_json::{json, Value};

pub const HEALTHY: &str = "Cluster in healthy state";

pub struct World {
    pub sandbox: Sandbox,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

pub async fn start() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::start(dir.path(), 0).await.expect("sandbox starts");
    let client = client_for(&sandbox.kubeconfig_path()).await;
    World {
        sandbox,
        client,
        dir,
    }
}

pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig written");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig valid");
    Client::try_from(config).expect("client")
}

pub fn clusters(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

pub async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
    // As on a real cluster, Pods can be created once the serviceaccount controller has given the
    // namespace its `default` ServiceAccount.
    let sas = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), name);
    for _ in 0..300 {
        if sas.get_opt("default").await.ok().flatten().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Creates a Cluster with `spec` (PostgreSQL 15 image unless the spec names one).
pub async fn create_cluster(client: &Client, ns: &str, name: &str, spec: Value) {
    let mut spec = spec;
    if spec.get("imageName").is_none() {
        spec["imageName"] = json!("ghcr.io/cloudnative-pg/postgresql:15.6-system-bookworm");
    }
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": name, "namespace": ns}, "spec": spec,
    }))
    .expect("cluster object");
    clusters(client, ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("cluster created");
}

/// Waits (up to `secs`) for the Cluster's phase to be healthy; returns it and the time taken.
pub async fn await_healthy(
    client: &Client,
    ns: &str,
    name: &str,
    secs: u64,
) -> (DynamicObject, Duration) {
    let t0 = Instant::now();
    let cond = |o: Option<&DynamicObject>| {
        o.and_then(|o| o.data.pointer("/status/phase"))
            .is_some_and(|p| p == HEALTHY)
    };
    let got = tokio::time::timeout(
        Duration::from_secs(secs),
        await_condition(clusters(client, ns), name, cond),
    )
    .await
    .unwrap_or_else(|_| panic!("Cluster {ns}/{name} not healthy within {secs}s"))
    .expect("watch")
    .expect("cluster exists");
    (got, t0.elapsed())
}

pub async fn secret(client: &Client, ns: &str, name: &str) -> Option<Secret> {
    Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("get secret")
}

pub fn key(s: &Secret, k: &str) -> String {
    let bytes = s
        .data
        .as_ref()
        .and_then(|d| d.get(k))
        .unwrap_or_else(|| panic!("secret has no key {k}"));
    String::from_utf8(bytes.0.clone()).expect("utf8")
}

/// The `ip:port` a Service's address annotation gives.
pub async fn service_address(client: &Client, ns: &str, name: &str) -> String {
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("service");
    svc.metadata
        .annotations
        .and_then(|a| a.get("sandbox.cnpgops.io/address").cloned())
        .unwrap_or_else(|| panic!("service {name} has no address annotation"))
}

/// psql over TCP to `addr` as `user` with `password`: Ok(output) or Err(stderr).
pub fn psql(addr: &str, user: &str, password: &str, db: &str, sql: &str) -> Result<String, String> {
    let (host, port) = addr.split_once(':').expect("ip:port");
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            host,
            "-p",
            port,
            "-U",
            user,
            "-d",
            db,
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The instance's data dir in the sandbox dir.
pub fn instance_dir(dir: &Path, ns: &str, instance: &str) -> PathBuf {
    dir.join("pg").join(ns).join(instance)
}

/// The postmaster's pid, from `postmaster.pid`.
pub fn postmaster_pid(instance_dir: &Path) -> u32 {
    let text =
        std::fs::read_to_string(instance_dir.join("data/postmaster.pid")).expect("postmaster.pid");
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("pid")
}

/// Whether a process runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Polls `f` every 100 ms for up to `secs`.
pub async fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what}: not within {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
