//! Scheduling for one node: a Pod without a node is bound to `sandbox` (the Binding
//! subresource, as kube-scheduler does), unless its nodeSelector cannot match, which the Pod
//! then shows as `PodScheduled=False` with reason `Unschedulable`. For every Pod on the node,
//! the address its ports listen on is written for the kubelet API's port-forward.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use super::NODE;
use crate::cluster::{Cluster, EventType};

/// The node's labels a nodeSelector can match.
fn node_labels() -> [(&'static str, &'static str); 2] {
    [
        ("kubernetes.io/hostname", NODE),
        ("kubernetes.io/os", "linux"),
    ]
}

/// Why the Pod cannot go on the node, if it cannot.
pub fn unschedulable(pod: &Value) -> Option<String> {
    let selector = pod.pointer("/spec/nodeSelector")?.as_object()?;
    let labels = node_labels();
    let fits = selector.iter().all(|(k, v)| {
        labels
            .iter()
            .any(|(lk, lv)| lk == k && v.as_str() == Some(lv))
    });
    (!fits).then(|| "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".to_string())
}

pub fn spawn(cluster: Arc<Cluster>, dir: PathBuf) -> tokio::task::JoinHandle<()> {
    let mut changes = cluster.subscribe();
    let initial = cluster.list_objs("", "pods", None);
    tokio::spawn(async move {
        for pod in initial {
            handle(&cluster, &dir, &pod, false).await;
        }
        loop {
            match changes.recv().await {
                Ok(c) if c.res.group.is_empty() && c.res.plural == "pods" => {
                    handle(&cluster, &dir, &c.object, c.kind == EventType::Deleted).await
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for pod in cluster.list_objs("", "pods", None) {
                        handle(&cluster, &dir, &pod, false).await;
                    }
                }
                Err(_) => return,
            }
        }
    })
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

async fn handle(cluster: &Cluster, dir: &Path, pod: &Value, deleted: bool) {
    let (ns, name) = (s(pod, "/metadata/namespace"), s(pod, "/metadata/name"));
    let pod_dir = dir.join("pods").join(ns).join(name);
    if deleted {
        let _ = std::fs::remove_dir_all(&pod_dir);
        return;
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let node = s(pod, "/spec/nodeName");
    if node.is_empty() {
        bind(cluster, pod, ns, name).await;
    } else if node == NODE {
        let ip = s(pod, "/status/podIP");
        if !ip.is_empty() && std::fs::create_dir_all(&pod_dir).is_ok() {
            let _ = std::fs::write(pod_dir.join("address"), ip);
        }
    }
}

async fn bind(cluster: &Cluster, pod: &Value, ns: &str, name: &str) {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    if let Some(message) = unschedulable(pod) {
        let already = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable");
        if !already {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let status = json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "Unschedulable", "message": message, "lastTransitionTime": now}]}});
            let _ = api
                .patch_status(name, &PatchParams::default(), &Patch::Strategic(&status))
                .await;
        }
        return;
    }
    let binding = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns},
        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}});
    match api
        .create_subresource::<Value, Value>("binding", name, &PostParams::default(), &binding)
        .await
    {
        Ok(_) => {}
        // Bound meanwhile, or gone: nothing to do.
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
        Err(e) => tracing::warn!(ns, name, "binding the pod failed: {e}"),
    }
}
