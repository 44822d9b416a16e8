//! Deployments: their Pods appear and disappear with `spec.replicas` (no process runs: the
//! sandbox has no images), and the status reports replicas as the deployment controller does.
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::pods::PROCESS;
use crate::apiserver::meta::{now, random_suffix};
use crate::apiserver::ApiServer;

const MANAGER: &str = "deployment-controller";

/// Runs the Deployment controller until the sandbox stops.
pub fn spawn(api: Arc<ApiServer>) -> tokio::task::JoinHandle<()> {
    super::on_changes(
        api,
        &["deployments", "pods"],
        Duration::from_secs(2),
        |api| {
            for d in api.list_objs("apps", "deployments", None) {
                reconcile(api, &d);
            }
        },
    )
}

fn owned_pods(api: &ApiServer, d: &Value) -> Vec<Value> {
    let ns = d["metadata"]["namespace"].as_str().unwrap_or_default();
    let uid = &d["metadata"]["uid"];
    api.list_objs("", "pods", Some(ns))
        .into_iter()
        .filter(|p| {
            p.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|o| o["uid"] == *uid))
        })
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .collect()
}

fn reconcile(api: &ApiServer, d: &Value) {
    if d.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let ns = d["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = d["metadata"]["name"].as_str().unwrap_or_default();
    let want = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let mut pods = owned_pods(api, d);
    while pods.len() > want {
        if let Some(p) = pods.pop() {
            let _ = api.delete_obj(
                "",
                "pods",
                ns,
                p["metadata"]["name"].as_str().unwrap_or_default(),
                Some("Background"),
            );
        }
    }
    for _ in pods.len()..want {
        let mut meta = d
            .pointer("/spec/template/metadata")
            .cloned()
            .unwrap_or(json!({}));
        let hash = format!(
            "{:x}",
            d["metadata"]["generation"].as_i64().unwrap_or(1) * 7919 % 0xfffff
        );
        meta["name"] = json!(format!("{name}-{hash}-{}", random_suffix()));
        meta["namespace"] = json!(ns);
        meta["labels"]["pod-template-hash"] = json!(hash);
        meta["annotations"][PROCESS] = json!("none");
        meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": d["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": d["spec"]["template"]["spec"]});
        if let Ok(created) = api.create_obj(&pod, MANAGER) {
            let t = now();
            let status = json!({"status": {"phase": "Running", "startTime": t, "podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": t}]}});
            let _ = api.merge_patch(
                "",
                "pods",
                ns,
                created["metadata"]["name"].as_str().unwrap_or_default(),
                &status,
                true,
                "kubelet",
            );
        }
    }
    let n = owned_pods(api, d).len();
    let gen = d["metadata"]["generation"].clone();
    let status = json!({"observedGeneration": gen, "replicas": n, "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                       {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{name}\" has successfully progressed.")}]});
    let cur = d.get("status").cloned().unwrap_or(json!({}));
    if ["observedGeneration", "replicas", "readyReplicas"]
        .iter()
        .any(|k| cur.get(*k) != status.get(*k))
    {
        let _ = api.merge_patch(
            "apps",
            "deployments",
            ns,
            name,
            &json!({"status": status}),
            true,
            MANAGER,
        );
    }
}
