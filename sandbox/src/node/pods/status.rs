//! One pod's life: wait until its config (Secrets, ConfigMaps) resolves, run init containers then
//! containers, and report phase, conditions and container statuses as the kubelet does.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use super::process::{pump_logs, run_as, signal_group, spawn, Launch};
use super::{env, volumes, RunnerConfig};
use super::{images, probes};
use crate::cluster::now;
use crate::cluster::Cluster;
use crate::net::pod::PodNet;

/// The running process of each container, by (pod uid, container name), for exec probes.
static CONTAINER_PIDS: std::sync::Mutex<Vec<((String, String), u32)>> =
    std::sync::Mutex::new(Vec::new());

fn container_key(pod: &Value, c: &Value) -> (String, String) {
    (
        pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        c["name"].as_str().unwrap_or_default().to_string(),
    )
}

fn set_container_pid(pod: &Value, c: &Value, pid: Option<u32>) {
    let key = container_key(pod, c);
    let mut pids = CONTAINER_PIDS.lock().unwrap_or_else(|e| e.into_inner());
    pids.retain(|(k, _)| *k != key);
    if let Some(pid) = pid {
        pids.push((key, pid));
    }
}

fn container_pid(pod: &Value, c: &Value) -> Option<u32> {
    let key = container_key(pod, c);
    let pids = CONTAINER_PIDS.lock().unwrap_or_else(|e| e.into_inner());
    pids.iter().find(|(k, _)| *k == key).map(|(_, p)| *p)
}

/// Where a Pod's containers run: its network namespace and hostname.
struct PodNode<'a> {
    netns: &'a [String],
    hostname: &'a str,
}

fn patch_status(api: &Cluster, pod: &Value, status: Value) {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let _ = api.merge_patch(
        "",
        "pods",
        ns,
        name,
        &json!({"status": status}),
        true,
        "kubelet",
    );
}

fn conditions(ready: bool, started: &str) -> Value {
    let s = if ready { "True" } else { "False" };
    json!([
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": started},
        {"type": "Initialized", "status": "True", "lastTransitionTime": started},
        {"type": "Ready", "status": s, "lastTransitionTime": now()},
        {"type": "ContainersReady", "status": s, "lastTransitionTime": now()},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
    ])
}

fn waiting(name: &str, image: &str, reason: &str, message: &str) -> Value {
    json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
        "state": {"waiting": {"reason": reason, "message": message}}})
}

/// Outcome of one container: exit code (None when stopped because the pod was deleted).
struct Exit {
    name: String,
    image: String,
    code: Option<i32>,
    started: String,
    finished: String,
    restarts: u32,
    message: Option<String>,
}

impl Exit {
    fn status(&self) -> Value {
        let code = self.code.unwrap_or(137);
        let reason = match (self.code, &self.message) {
            (_, Some(_)) => "StartError",
            (Some(0), _) => "Completed",
            (None, _) => "Killed",
            _ => "Error",
        };
        let mut term = json!({"exitCode": code, "reason": reason, "startedAt": self.started, "finishedAt": self.finished, "containerID": format!("sandbox://{}", self.name)});
        if let Some(m) = &self.message {
            term["message"] = json!(m);
        }
        json!({"name": self.name, "image": self.image, "imageID": "", "ready": false, "started": false, "restartCount": self.restarts, "state": {"terminated": term}})
    }
}

/// Why an image cannot be pulled, if it cannot: the sandbox has no registry, and takes an image
/// from a registry under `.invalid` (RFC 2606) as one that does not resolve.
fn pull_error(image: &str) -> Option<String> {
    let host = image
        .split('/')
        .next()
        .filter(|h| h.contains('.') || h.contains(':'))?;
    let host = host.split(':').next().unwrap_or(host);
    host.ends_with(".invalid").then(|| {
        format!("failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": dial tcp: lookup {host}: no such host")
    })
}

/// Reports `ErrImagePull` then `ImagePullBackOff` for as long as the pod exists, if one of its
/// images cannot be pulled. True when it could not (the pod never runs).
async fn unpullable(api: &Cluster, pod: &Value, stop: &mut watch::Receiver<bool>) -> bool {
    let all: Vec<Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod["spec"][k].as_array().cloned().unwrap_or_default())
        .collect();
    let Some((bad, message)) = all.iter().find_map(|c| {
        let image = c["image"].as_str().unwrap_or_default();
        pull_error(image).map(|m| (c["name"].as_str().unwrap_or_default().to_string(), m))
    }) else {
        return false;
    };
    let mut round = 0u32;
    loop {
        let (reason, msg) = if round.is_multiple_of(2) {
            ("ErrImagePull", message.clone())
        } else {
            let image = all
                .iter()
                .find(|c| c["name"] == bad.as_str())
                .and_then(|c| c["image"].as_str())
                .unwrap_or_default();
            (
                "ImagePullBackOff",
                format!("Back-off pulling image \"{image}\""),
            )
        };
        let statuses: Vec<Value> = all
            .iter()
            .map(|c| {
                let name = c["name"].as_str().unwrap_or_default();
                let image = c["image"].as_str().unwrap_or_default();
                if name == bad {
                    waiting(name, image, reason, &msg)
                } else {
                    waiting(name, image, "PodInitializing", "")
                }
            })
            .collect();
        patch_status(
            api,
            pod,
            json!({"phase": "Pending", "containerStatuses": statuses}),
        );
        round += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return true,
        }
    }
}

/// Waits until every container's environment and volumes resolve, reporting
/// `CreateContainerConfigError` meanwhile. None when the pod is stopped first.
async fn resolve_all(
    api: &Cluster,
    pod: &Value,
    stop: &mut watch::Receiver<bool>,
) -> Option<Vec<(Value, Vec<(String, String)>)>> {
    let all: Vec<Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod["spec"][k].as_array().cloned().unwrap_or_default())
        .collect();
    loop {
        let resolved: Result<Vec<_>, (String, String)> = all
            .iter()
            .map(|c| {
                env::resolve(api, pod, c)
                    .map(|e| (c.clone(), e))
                    .map_err(|e| (c["name"].as_str().unwrap_or_default().to_string(), e.0))
            })
            .collect();
        match resolved {
            Ok(r) => return Some(r),
            Err((name, message)) => {
                let statuses: Vec<Value> = all
                    .iter()
                    .map(|c| {
                        waiting(
                            c["name"].as_str().unwrap_or_default(),
                            c["image"].as_str().unwrap_or_default(),
                            if c["name"] == name.as_str() {
                                "CreateContainerConfigError"
                            } else {
                                "ContainerCreating"
                            },
                            &message,
                        )
                    })
                    .collect();
                patch_status(
                    api,
                    pod,
                    json!({"phase": "Pending", "containerStatuses": statuses}),
                );
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return None,
        }
    }
}

/// Runs the pod to completion (or until it is deleted).
pub async fn run_pod(
    api: &Arc<Cluster>,
    cfg: &RunnerConfig,
    pod: Value,
    mut stop: watch::Receiver<bool>,
) {
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let hostname = pod["spec"]["hostname"]
        .as_str()
        .unwrap_or(&name)
        .to_string();
    // The Pod's sandbox first, as the kubelet makes it before pulling images.
    let net = match PodNet::create(&hostname).await {
        Ok(net) => net,
        Err(message) => {
            patch_status(
                api,
                &pod,
                json!({"phase": "Failed", "reason": "FailedCreatePodSandBox", "message": message}),
            );
            return;
        }
    };
    let node_ip = cfg.apiserver.0.to_string();
    let mut pod = pod;
    pod["status"]["podIP"] = json!(net.ip.to_string());
    pod["status"]["hostIP"] = json!(node_ip);
    if unpullable(api, &pod, &mut stop).await {
        return;
    }
    let Some(containers) = resolve_all(api, &pod, &mut stop).await else {
        return;
    };
    let pod_dir = cfg.dir.join("pods").join(format!(
        "{ns}_{name}_{}",
        pod["metadata"]["uid"].as_str().unwrap_or_default()
    ));
    let hosts = pod_dir.join("hosts");
    let ready = std::fs::create_dir_all(&pod_dir)
        .and_then(|_| {
            std::fs::write(
                pod_dir.join(volumes::SELF_ENTRY),
                format!("{}\t{hostname}\n", net.ip),
            )
        })
        .and_then(|_| {
            // No cluster DNS here: names resolve through /etc/hosts, and a lookup that misses
            // fails at once (nothing listens on the Pod's own port 53) instead of timing out.
            std::fs::write(
                pod_dir.join("resolv.conf"),
                format!("search {ns}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5 attempts:1 timeout:1\n"),
            )
        })
        .and_then(|_| volumes::hosts_file(api, &pod_dir, &ns));
    let enter = net.enter();
    let node = PodNode {
        netns: &enter,
        hostname: &hostname,
    };
    // Tracked without a pod name: the sandbox's stop kills it, a fault's `kill` does not.
    super::track(&cfg.dir, &ns, "", net.pid, true);
    // For the kubelet API's port-forward, which dials inside the Pod's network namespace.
    let netns_file = cfg
        .dir
        .join("node/pods")
        .join(&ns)
        .join(&name)
        .join("netns");
    let _ = std::fs::create_dir_all(netns_file.parent().unwrap_or(&cfg.dir))
        .and_then(|_| std::fs::write(&netns_file, net.pid.to_string()));
    let started = now();
    let init_names: Vec<String> = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    // Native sidecars (init containers with `restartPolicy: Always`, as the barman-cloud
    // plugin injects): they keep running beside the main containers and are stopped once
    // those are done. Started after every regular init container (not in their order), the
    // main containers once the sidecars' startup probes pass.
    let is_sidecar = |c: &Value| {
        c["restartPolicy"] == "Always" && init_names.iter().any(|n| c["name"] == n.as_str())
    };
    let restart = pod["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always")
        .to_string();
    let mut exits = vec![];
    let mut failed = ready.is_err();
    for (c, env) in containers
        .iter()
        .filter(|(c, _)| init_names.iter().any(|n| c["name"] == n.as_str()) && !is_sidecar(c))
    {
        let exit = run_container(
            api,
            cfg,
            &pod,
            c,
            env.clone(),
            &pod_dir,
            &hosts,
            &node,
            &restart,
            &mut stop,
        )
        .await;
        failed |= exit.code != Some(0);
        exits.push(exit);
        if failed {
            break;
        }
    }
    let mains: Vec<_> = containers
        .iter()
        .filter(|(c, _)| !init_names.iter().any(|n| c["name"] == n.as_str()))
        .collect();
    let sidecars: Vec<_> = containers.iter().filter(|(c, _)| is_sidecar(c)).collect();
    if !failed {
        let running = |ready: &[bool]| -> Value {
            mains.iter().zip(ready).map(|((c, _), r)| json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": r, "started": true, "restartCount": 0, "state": {"running": {"startedAt": started}}})).collect()
        };
        let sidecars_running: Value = sidecars.iter().map(|(c, _)| json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": started}}})).collect();
        // A running container has a log (a follower attaching at once must not get 404).
        for (c, _) in mains.iter().chain(&sidecars) {
            let cname = c["name"].as_str().unwrap_or_default().to_string();
            api.logs.started(&(ns.clone(), name.clone(), cname));
        }
        // Ready at once unless a readiness probe says otherwise (see `probes`).
        let mut ready: Vec<bool> = mains
            .iter()
            .map(|(c, _)| !probes::has_readiness(c))
            .collect();
        patch_status(
            api,
            &pod,
            json!({"phase": "Running", "startTime": started, "podIP": net.ip.to_string(), "podIPs": [{"ip": net.ip.to_string()}], "hostIP": node_ip, "hostIPs": [{"ip": node_ip}], "conditions": conditions(ready.iter().all(|r| *r), &started), "containerStatuses": running(&ready), "initContainerStatuses": sidecars_running}),
        );
        let (sidecars_stop, sidecars_stopped) = watch::channel(false);
        let launch = {
            let (pod, pod_dir, hosts, node) = (&pod, &pod_dir, &hosts, &node);
            move |c: Value, env: Vec<(String, String)>, restart: String, mut stop| async move {
                let (pod, pod_dir, hosts) = (pod, pod_dir.as_path(), hosts.as_path());
                run_container(
                    api, cfg, pod, &c, env, pod_dir, hosts, node, &restart, &mut stop,
                )
                .await
            }
        };
        let side_runs = sidecars.iter().map(|(c, env)| {
            launch(
                c.clone(),
                env.clone(),
                "OnFailure".into(),
                sidecars_stopped.clone(),
            )
        });
        let runs = mains
            .iter()
            .map(|(c, env)| launch(c.clone(), env.clone(), restart.clone(), stop.clone()));
        let mains_done = async {
            sidecars_started(&pod, &sidecars, &net.ip.to_string(), &stop).await;
            let done = futures::future::join_all(runs).await;
            // The kubelet stops a Pod's sidecars once its main containers have exited.
            let _ = sidecars_stop.send(true);
            done
        };
        let all = futures::future::join(mains_done, futures::future::join_all(side_runs));
        tokio::pin!(all);
        let ip = net.ip.to_string();
        let mut failures = vec![0u64; mains.len()];
        let done = loop {
            tokio::select! {
                (done, sides) = &mut all => break done.into_iter().chain(sides).collect::<Vec<_>>(),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {
                    volumes::refresh(api, &pod, &pod_dir);
                    let mut now_ready = ready.clone();
                    for (i, (c, _)) in mains.iter().enumerate() {
                        if let Some(probe) = c.get("readinessProbe").filter(|p| p.is_object()) {
                            let pid = container_pid(&pod, c);
                            // Ready after one success, unready after failureThreshold (3)
                            // failures in a row, as the kubelet counts.
                            if probes::passes(probe, c, &ip, pid).await {
                                failures[i] = 0;
                                now_ready[i] = true;
                            } else {
                                failures[i] += 1;
                                let threshold = probe["failureThreshold"].as_u64().unwrap_or(3);
                                if !ready[i] || failures[i] >= threshold {
                                    now_ready[i] = false;
                                }
                            }
                        }
                    }
                    if now_ready != ready {
                        ready = now_ready;
                        patch_status(api, &pod, json!({"conditions": conditions(ready.iter().all(|r| *r), &started), "containerStatuses": running(&ready)}));
                    }
                }
            }
        };
        exits.extend(done);
    }
    super::track(&cfg.dir, &ns, "", net.pid, false);
    let _ = std::fs::remove_file(&netns_file);
    net.kill_inside();
    drop(net);
    if *stop.borrow() {
        let _ = std::fs::remove_dir_all(&pod_dir);
        return;
    }
    // A sidecar's exit (stopped after the main containers) does not decide the phase.
    let sidecar_names: Vec<&str> = sidecars
        .iter()
        .filter_map(|(c, _)| c["name"].as_str())
        .collect();
    let ok = exits
        .iter()
        .filter(|e| !sidecar_names.contains(&e.name.as_str()))
        .all(|e| e.code == Some(0))
        && !failed;
    let main_status: Vec<Value> = exits
        .iter()
        .filter(|e| !init_names.contains(&e.name))
        .map(Exit::status)
        .collect();
    let init_status: Vec<Value> = exits
        .iter()
        .filter(|e| init_names.contains(&e.name))
        .map(Exit::status)
        .collect();
    let mut status = json!({"phase": if ok { "Succeeded" } else { "Failed" }, "conditions": conditions(false, &started), "containerStatuses": main_status});
    if !init_status.is_empty() {
        status["initContainerStatuses"] = json!(init_status);
    }
    if let Err(e) = ready {
        status["message"] = json!(format!("failed to prepare the pod: {e}"));
    }
    patch_status(api, &pod, status);
}

/// Waits until each sidecar's startupProbe passes (for at most its failureThreshold ×
/// periodSeconds), as the kubelet does before it starts the next containers: CloudNativePG's
/// instance manager looks for the plugins' sockets once, when it starts.
async fn sidecars_started(
    pod: &Value,
    sidecars: &[&(Value, Vec<(String, String)>)],
    ip: &str,
    stop: &watch::Receiver<bool>,
) {
    for (c, _) in sidecars {
        let Some(probe) = c.get("startupProbe").filter(|p| p.is_object()) else {
            continue;
        };
        let limit = probe["failureThreshold"].as_u64().unwrap_or(3)
            * probe["periodSeconds"].as_u64().unwrap_or(10);
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(limit) && !*stop.borrow() {
            if probes::passes(probe, c, ip, container_pid(pod, c)).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_container(
    api: &Arc<Cluster>,
    cfg: &RunnerConfig,
    pod: &Value,
    c: &Value,
    env: Vec<(String, String)>,
    pod_dir: &Path,
    hosts: &Path,
    node: &PodNode<'_>,
    restart: &str,
    stop: &mut watch::Receiver<bool>,
) -> Exit {
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pod_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = c["name"].as_str().unwrap_or_default().to_string();
    let key = (ns.clone(), pod_name.clone(), name.clone());
    let mut exit = Exit {
        name: name.clone(),
        image: c["image"].as_str().unwrap_or_default().to_string(),
        code: None,
        started: now(),
        finished: now(),
        restarts: 0,
        message: None,
    };
    loop {
        exit.started = now();
        let known = images::of(c["image"].as_str().unwrap_or_default());
        let known_image = known.is_some();
        let image = known.unwrap_or_default();
        let launch = volumes::mounts(api, pod, c, pod_dir, &cfg.dir).and_then(|volumes| {
            let generated = images::generated(&image, pod_dir).map_err(|e| e.to_string())?;
            // The image's files and generated files first: volumes may be mounted over them
            // (`/controller`), and a volume over a directory holding their sources (`/tmp`)
            // must not hide those.
            let mounts = image
                .files
                .iter()
                .cloned()
                .chain(generated)
                .chain(volumes)
                .collect();
            spawn(&Launch {
                container: c,
                env: cfg.service_env().into_iter().chain(env.clone()).collect(),
                workdir: pod_dir,
                hosts: Some(hosts),
                mounts,
                pg_bin: &cfg.pg_bin,
                netns: node.netns,
                hostname: node.hostname,
                user: run_as(pod, c, image.postgres_user.map(|(_, g)| g)),
                path: image.path.clone(),
                entrypoint: &image.entrypoint,
                known_image,
            })
        });
        let mut child = match launch {
            Ok(child) => child,
            Err(message) => {
                api.logs.append(&key, &format!("{message}\n"));
                exit.code = Some(128);
                exit.message = Some(message);
                break;
            }
        };
        api.logs.started(&key);
        let pid = child.id().unwrap_or(0);
        super::track(&cfg.dir, &ns, &pod_name, pid, true);
        set_container_pid(pod, c, Some(pid));
        // For the kubelet API's exec, which enters this process's namespaces.
        let pid_file = cfg
            .dir
            .join("node/pods")
            .join(&ns)
            .join(&pod_name)
            .join("containers")
            .join(&name);
        let _ = std::fs::create_dir_all(pid_file.parent().unwrap_or(&cfg.dir))
            .and_then(|_| std::fs::write(&pid_file, pid.to_string()));
        let logs = pump_logs(&mut child, api.logs.clone(), key.clone());
        let code = tokio::select! {
            status = child.wait() => {
                // Untracked the moment it is reaped: from here on its pid may belong to any new
                // process (pid_max is 32768 here), which a stop or a fault must never signal.
                super::track(&cfg.dir, &ns, &pod_name, pid, false);
                logs.await;
                status.ok().map(|s| s.code().unwrap_or(137))
            }
            _ = stop.changed() => {
                signal_group(pid, libc::SIGTERM);
                if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                    signal_group(pid, libc::SIGKILL);
                }
                None
            }
        };
        super::track(&cfg.dir, &ns, &pod_name, pid, false);
        set_container_pid(pod, c, None);
        let _ = std::fs::remove_file(&pid_file);
        exit.code = code;
        exit.finished = now();
        if code.is_some_and(|c| c != 0)
            && restart == "OnFailure"
            && exit.restarts < 6
            && !*stop.borrow()
        {
            exit.restarts += 1;
            continue;
        }
        break;
    }
    api.logs.finish(&key);
    exit
}
