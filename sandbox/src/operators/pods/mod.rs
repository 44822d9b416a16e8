//! The kubelet of the sandbox: every Pod that nobody else runs (no `sandbox.cnpgops.io/process`
//! annotation) has its containers run as local processes, with phases, container statuses,
//! exit codes and logs as the kubelet reports them; deleting the Pod kills the processes.
mod env;
mod process;
mod status;
pub mod volumes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;

use crate::apiserver::store::EventType;
use crate::apiserver::ApiServer;

/// Annotation with a server's loopback address (`IP:PORT`) on Services and Pods.
pub const ADDRESS: &str = "sandbox.cnpgops.io/address";
/// Annotation marking a Pod as run by another controller (e.g. `cnpg`), not by this runner.
pub const PROCESS: &str = "sandbox.cnpgops.io/process";

/// Where pods keep their files, and where the PostgreSQL client binaries are.
#[derive(Clone)]
pub struct RunnerConfig {
    pub dir: PathBuf,
    pub pg_bin: PathBuf,
}

impl RunnerConfig {
    pub fn new(dir: PathBuf) -> Self {
        let pg_bin = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
        RunnerConfig { dir, pg_bin }
    }
}

/// Running pods by uid: sending `true` stops them.
type Running = Arc<Mutex<HashMap<String, watch::Sender<bool>>>>;

fn runnable(pod: &Value) -> bool {
    let ann = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PROCESS));
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    ann.is_none() && phase == "Pending" && pod.pointer("/metadata/deletionTimestamp").is_none()
}

fn uid(pod: &Value) -> String {
    pod.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Runs pods until the sandbox stops.
pub fn spawn(api: Arc<ApiServer>, cfg: RunnerConfig) -> tokio::task::JoinHandle<()> {
    let running: Running = Arc::default();
    let mut changes = api.store.subscribe();
    for pod in api.list_objs("", "pods", None) {
        start(&api, &cfg, &running, pod);
    }
    tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(c) => c,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for pod in api.list_objs("", "pods", None) {
                        start(&api, &cfg, &running, pod);
                    }
                    continue;
                }
                Err(_) => return,
            };
            if change.res.group.is_empty() && change.res.plural == "services" {
                refresh_hosts(&api, &cfg);
                continue;
            }
            if !change.res.group.is_empty() || change.res.plural != "pods" {
                continue;
            }
            let pod = &change.object;
            let gone = change.kind == EventType::Deleted
                || pod.pointer("/metadata/deletionTimestamp").is_some();
            if gone {
                if let Some(stop) = running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&uid(pod))
                {
                    let _ = stop.send(true);
                }
            } else {
                start(&api, &cfg, &running, pod.clone());
            }
        }
    })
}

fn start(api: &Arc<ApiServer>, cfg: &RunnerConfig, running: &Running, pod: Value) {
    if !runnable(&pod) {
        return;
    }
    let id = uid(&pod);
    let (tx, rx) = watch::channel(false);
    {
        let mut map = running.lock().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(&id) {
            return;
        }
        map.insert(id.clone(), tx);
    }
    let (api, cfg, running) = (api.clone(), cfg.clone(), running.clone());
    tokio::spawn(async move {
        status::run_pod(&api, &cfg, pod, rx).await;
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    });
}

/// Process groups of running containers: (sandbox dir, namespace, pod name, pid).
type Tracked = (PathBuf, String, String, u32);
static PIDS: Mutex<Vec<Tracked>> = Mutex::new(Vec::new());

fn track(dir: &std::path::Path, ns: &str, name: &str, pid: u32, on: bool) {
    let mut p = PIDS.lock().unwrap_or_else(|e| e.into_inner());
    if on {
        p.push((dir.to_path_buf(), ns.to_string(), name.to_string(), pid));
    } else {
        p.retain(|(_, _, _, x)| *x != pid);
    }
}

/// Kills every process the pods of the sandbox in `dir` run (the sandbox is stopping).
pub fn kill_all(dir: &std::path::Path) {
    let p = PIDS.lock().unwrap_or_else(|e| e.into_inner());
    for (_, _, _, pid) in p.iter().filter(|(d, _, _, _)| d == dir) {
        process::signal_group(*pid, libc::SIGKILL);
    }
}

/// Rewrites the hosts file of every running pod in place (same inode, so the bind mount sees
/// it): a Service created after a pod started resolves, as cluster DNS would.
fn refresh_hosts(api: &ApiServer, cfg: &RunnerConfig) {
    let Ok(entries) = std::fs::read_dir(cfg.dir.join("pods")) else {
        return;
    };
    for entry in entries.flatten() {
        let hosts = entry.path().join("hosts");
        let name = entry.file_name().to_string_lossy().into_owned();
        if let (true, Some((ns, _))) = (hosts.exists(), name.split_once('_')) {
            let _ = volumes::hosts_file(api, &hosts, ns);
        }
    }
}

/// Kills a pod's processes as if they crashed (fault injection): the pod then fails.
/// Returns whether a process was found.
pub fn kill(ns: &str, name: &str) -> bool {
    let p = PIDS.lock().unwrap_or_else(|e| e.into_inner());
    let pids: Vec<u32> = p
        .iter()
        .filter(|(_, n, m, _)| n == ns && m == name)
        .map(|(_, _, _, pid)| *pid)
        .collect();
    for pid in &pids {
        process::signal_group(*pid, libc::SIGKILL);
    }
    !pids.is_empty()
}
