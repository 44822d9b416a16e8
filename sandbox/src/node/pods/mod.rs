//! The node agent's pod runner (the kubelet's part): every Pod bound to the node that nobody
//! else runs (no `sandbox.cnpgops.io/process` annotation) has its containers run as local
//! processes, with phases, container statuses, exit codes and logs as the kubelet reports them.
//! A Pod being deleted gets its processes stopped (SIGTERM, SIGKILL after the grace period) and
//! is then removed for good (the kubelet's final delete with grace period 0).
mod env;
pub mod images;
mod probes;
mod process;
mod status;
pub mod volumes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;

use crate::cluster::Cluster;
use crate::cluster::EventType;

/// Annotation with a server's loopback address (`IP:PORT`) on Services and Pods.
pub const ADDRESS: &str = "sandbox.cnpgops.io/address";
/// Annotation marking a Pod as run by another controller (e.g. `cnpg`), not by this runner.
pub const PROCESS: &str = "sandbox.cnpgops.io/process";

/// Where pods keep their files, and where the PostgreSQL client binaries are.
#[derive(Clone)]
pub struct RunnerConfig {
    pub dir: PathBuf,
    pub pg_bin: PathBuf,
    /// Where Pods reach the apiserver (`KUBERNETES_SERVICE_HOST/PORT`): its own address, as
    /// there is no kube-proxy to route the `kubernetes` Service's ClusterIP.
    pub apiserver: (std::net::Ipv4Addr, u16),
}

impl RunnerConfig {
    pub fn new(dir: PathBuf, ip: std::net::Ipv4Addr, port: u16) -> Self {
        let pg_bin = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
        RunnerConfig {
            dir,
            pg_bin,
            apiserver: (ip, port),
        }
    }

    /// The variables the kubelet gives every container for the `kubernetes` Service.
    pub fn service_env(&self) -> Vec<(String, String)> {
        let (ip, port) = self.apiserver;
        vec![
            ("KUBERNETES_SERVICE_HOST".into(), ip.to_string()),
            ("KUBERNETES_SERVICE_PORT".into(), port.to_string()),
            ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.to_string()),
            ("KUBERNETES_PORT".into(), format!("tcp://{ip}:{port}")),
        ]
    }
}

/// Running pods by uid: sending `true` stops them.
type Running = Arc<Mutex<HashMap<String, watch::Sender<bool>>>>;

fn on_node(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(super::NODE)
}

fn runnable(pod: &Value) -> bool {
    let ann = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PROCESS));
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    on_node(pod)
        && ann.is_none()
        && phase == "Pending"
        && pod.pointer("/metadata/deletionTimestamp").is_none()
}

fn uid(pod: &Value) -> String {
    pod.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Runs pods until the sandbox stops.
pub fn spawn(api: Arc<Cluster>, cfg: RunnerConfig) -> tokio::task::JoinHandle<()> {
    let running: Running = Arc::default();
    let mut changes = api.subscribe();
    resync(&api, &cfg, &running);
    tokio::spawn(async move {
        // Every few seconds all Pods are looked at again, as the kubelet's sync loop does: a
        // change missed (a lagging subscriber) neither leaves a Pod unstarted nor Terminating.
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3));
        loop {
            let change = tokio::select! {
                c = changes.recv() => c,
                _ = tick.tick() => {
                    resync(&api, &cfg, &running);
                    continue;
                }
            };
            let change = match change {
                Ok(c) => c,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    resync(&api, &cfg, &running);
                    continue;
                }
                Err(_) => return,
            };
            let plural = change.res.plural.as_str();
            if plural == "services" || plural == "endpointslices" {
                refresh_hosts(&api, &cfg);
                continue;
            }
            if !change.res.group.is_empty() || change.res.plural != "pods" {
                continue;
            }
            if change.kind == EventType::Deleted {
                stop_pod(&running, &change.object);
            } else {
                sync(&api, &cfg, &running, &change.object);
            }
        }
    })
}

/// One Pod as it now is: started if it should run, stopped (and then removed) if deleted.
fn sync(api: &Arc<Cluster>, cfg: &RunnerConfig, running: &Running, pod: &Value) {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        // Running: the run's end removes it; otherwise there is nothing to stop.
        if !stop_pod(running, pod) && on_node(pod) {
            finalize(api, pod);
        }
    } else {
        start(api, cfg, running, pod.clone());
    }
}

fn resync(api: &Arc<Cluster>, cfg: &RunnerConfig, running: &Running) {
    for pod in api.list_objs("", "pods", None) {
        sync(api, cfg, running, &pod);
    }
}

fn start(api: &Arc<Cluster>, cfg: &RunnerConfig, running: &Running, pod: Value) {
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
        let stopped = rx.clone();
        status::run_pod(&api, &cfg, pod.clone(), rx).await;
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if *stopped.borrow() {
            finalize(&api, &pod);
        }
    });
}

/// Tells a running pod to stop; false if it was not running.
fn stop_pod(running: &Running, pod: &Value) -> bool {
    let stop = running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&uid(pod));
    match stop {
        Some(s) => {
            let _ = s.send(true);
            true
        }
        None => false,
    }
}

/// The kubelet's last word on a Pod being deleted: its processes are gone, remove it now.
fn finalize(api: &Cluster, pod: &Value) {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    if let Err(e) = api.delete_now(ns, name, &uid(pod)) {
        if e.code != 404 && e.code != 409 {
            tracing::warn!(ns, name, "removing a deleted pod failed: {e}");
        }
    }
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
    {
        let p = PIDS.lock().unwrap_or_else(|e| e.into_inner());
        for (_, _, name, pid) in p.iter().filter(|(d, _, _, _)| d == dir) {
            process::signal_group(*pid, libc::SIGKILL);
            if name.is_empty() {
                // A Pod's pause process: everything in its network namespace goes too.
                crate::net::pod::kill_in_netns_of(*pid, true);
            }
        }
    }
    sweep(dir);
}

/// Kills every process still marked as one of the sandbox's Pods (its environment names the
/// Pod's directory under `dir/pods/`): whatever escaped its container's process group and its
/// Pod's network namespace kill, such as a postmaster CNPG's instance manager started in a
/// process group of its own (seen surviving a `down`, with parent 1).
fn sweep(dir: &std::path::Path) {
    let marker = format!("{}={}/pods/", process::POD_ENV, dir.display()).into_bytes();
    for _ in 0..5 {
        let mut found = false;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if carries(pid as u32, &marker) {
                // SAFETY: kill only sends a signal; the pid is one of this sandbox's Pods'.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                found = true;
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Rewrites the hosts file of every running pod in place (same inode, so the bind mount sees
/// it): a Service created after a pod started resolves, as cluster DNS would.
fn refresh_hosts(api: &Cluster, cfg: &RunnerConfig) {
    let Ok(entries) = std::fs::read_dir(cfg.dir.join("pods")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let (true, Some((ns, _))) = (entry.path().join("hosts").exists(), name.split_once('_')) {
            let _ = volumes::hosts_file(api, &entry.path(), ns);
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

/// Stops (SIGSTOP) or continues one process of a Pod by its host pid (Pods share the host's
/// process ids: a PostgreSQL backend's `pg_stat_activity.pid` is its pid here): a stalled
/// process, which keeps every signal sent to it pending until continued. Only processes of
/// the sandbox's Pods: false for any other.
pub fn pause_process(pid: u32, paused: bool) -> bool {
    let signal = if paused { libc::SIGSTOP } else { libc::SIGCONT };
    // SAFETY: kill only sends a signal, to a process of a Pod.
    of_a_pod(pid) && unsafe { libc::kill(pid as i32, signal) } == 0
}

/// Whether `pid` or one of its ancestors carries a Pod's marker in its environment (a
/// PostgreSQL backend overwrites its own environment with its process title; its postmaster's
/// parent still has it).
fn of_a_pod(pid: u32) -> bool {
    let marker = format!("{}=", process::POD_ENV);
    let mut pid = pid;
    for _ in 0..8 {
        if carries(pid, marker.as_bytes()) {
            return true;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let parent = status.lines().find_map(|l| l.strip_prefix("PPid:"));
        match parent.and_then(|p| p.trim().parse::<u32>().ok()) {
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

/// Whether a variable of process `pid`'s environment starts with `marker`.
fn carries(pid: u32, marker: &[u8]) -> bool {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    environ.split(|b| *b == 0).any(|v| v.starts_with(marker))
}

/// Whether `signal` is pending for process `pid` (the pending masks of `/proc/PID/status`).
pub fn signal_pending(pid: u32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let bit = 1u64 << (signal - 1);
    status.lines().any(|l| {
        let mask = l
            .strip_prefix("SigPnd:")
            .or_else(|| l.strip_prefix("ShdPnd:"));
        mask.and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & bit != 0)
    })
}
