//! One sync operation: PreSync hooks, apply the manifests (and prune), Sync hooks, PostSync
//! hooks; then `status.operationState` (Succeeded / Failed / Error), `status.sync` and
//! `status.health`, clearing `operation` in the same write, as Argo CD's controller does.
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::hooks;
use super::MANAGER;
use crate::cluster::now;
use crate::cluster::Cluster;

const INSTANCE: &str = "app.kubernetes.io/instance";

fn write(api: &Cluster, app: &Value, patch: &Value) {
    let ns = app["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = app["metadata"]["name"].as_str().unwrap_or_default();
    if let Err(e) = api.merge_patch(
        "argoproj.io",
        "applications",
        ns,
        name,
        patch,
        false,
        MANAGER,
    ) {
        tracing::warn!(app = name, error = %e.message, "failed to write the application status");
    }
}

fn group_version(doc: &Value) -> (String, String) {
    let av = doc["apiVersion"].as_str().unwrap_or_default();
    match av.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), av.to_string()),
    }
}

/// Creates or updates one manifest in `ns`; returns its `syncResult.resources[]` entry.
fn apply(api: &Cluster, app: &str, mut doc: Value, ns: &str) -> (Value, bool) {
    let (group, version) = group_version(&doc);
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    let namespaced = api
        .kind(&group, &kind)
        .map(|t| t.namespaced)
        .unwrap_or(true);
    if namespaced && doc.pointer("/metadata/namespace").is_none() {
        doc["metadata"]["namespace"] = json!(ns);
    }
    doc["metadata"]["labels"][INSTANCE] = json!(app);
    let obj_ns = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = doc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut result = json!({"group": group, "version": version, "kind": kind, "namespace": obj_ns, "name": name, "syncPhase": "Sync", "status": "Synced"});
    let plural = api
        .kind(&group, &kind)
        .map(|t| t.ar.plural.clone())
        .unwrap_or_default();
    let outcome = match api.get_obj(&group, &plural, &obj_ns, &name) {
        None => api.create_obj(&doc, MANAGER).map(|_| "created"),
        Some(_) => api
            .merge_patch(&group, &plural, &obj_ns, &name, &doc, false, MANAGER)
            .map(|_| "configured"),
    };
    let ok = outcome.is_ok();
    let message = match outcome {
        Ok(verb) => format!("{}/{name} {verb}", kind.to_lowercase()),
        Err(e) => e.message,
    };
    if !ok {
        result["status"] = json!("SyncFailed");
    }
    result["message"] = json!(message);
    (result, ok)
}

/// Deletes objects labelled for this app that the manifests no longer hold.
fn prune(api: &Cluster, app: &str, ns: &str, keep: &[(String, String, String)]) -> Vec<Value> {
    let mut out = vec![];
    for (group, plural, kind) in [
        ("", "configmaps", "ConfigMap"),
        ("", "services", "Service"),
        ("", "secrets", "Secret"),
        ("apps", "deployments", "Deployment"),
    ] {
        for obj in api.list_objs(group, plural, Some(ns)) {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let mine = obj
                .pointer("/metadata/labels")
                .and_then(|l| l.get(INSTANCE))
                .and_then(Value::as_str)
                == Some(app);
            if mine
                && !keep.contains(&(group.to_string(), kind.to_string(), name.clone()))
                && api
                    .delete_obj(group, plural, ns, &name, Some("Background"))
                    .is_ok()
            {
                out.push(json!({"group": group, "version": "v1", "kind": kind, "namespace": ns, "name": name, "status": "Pruned", "message": "pruned", "syncPhase": "Sync"}));
            }
        }
    }
    out
}

/// Health of the applied resources: Deployments must have their replicas available.
async fn health(api: &Cluster, results: &[Value]) -> &'static str {
    for _ in 0..30 {
        let pending = results
            .iter()
            .filter(|r| r["kind"] == "Deployment" && r["status"] == "Synced")
            .any(|r| {
                let d = api.get_obj(
                    "apps",
                    "deployments",
                    r["namespace"].as_str().unwrap_or_default(),
                    r["name"].as_str().unwrap_or_default(),
                );
                let want = d
                    .as_ref()
                    .and_then(|d| d.pointer("/spec/replicas"))
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let have = d
                    .as_ref()
                    .and_then(|d| d.pointer("/status/availableReplicas"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                have < want
            });
        if !pending {
            return "Healthy";
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    "Progressing"
}

/// Runs the Application's pending operation to its end.
pub async fn run(api: &Arc<Cluster>, app: Value) {
    let op = app["operation"].clone();
    let started = now();
    let name = app["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    write(
        api,
        &app,
        &json!({"status": {"operationState": {"operation": op, "phase": "Running", "message": "", "startedAt": started}}}),
    );
    let (docs, revision) = match super::source(api, &app) {
        Ok(s) => s,
        Err(message) => {
            let state = json!({"operation": op, "phase": "Error", "message": message, "startedAt": started, "finishedAt": now()});
            write(
                api,
                &app,
                &json!({"operation": null, "status": {"operationState": state, "sync": {"status": "Unknown"}}}),
            );
            return;
        }
    };
    let ns = app
        .pointer("/spec/destination/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let (hooks_docs, plain): (Vec<Value>, Vec<Value>) = docs
        .into_iter()
        .filter(|d| !hooks::phases(d).iter().any(|p| p == "Skip"))
        .partition(|d| !hooks::phases(d).is_empty());
    let mut results = vec![];
    let mut failed: Option<&str> = None;
    for phase in ["PreSync", "Sync", "PostSync"] {
        if phase == "Sync" {
            let mut keep = vec![];
            for doc in &plain {
                let (g, _) = group_version(doc);
                keep.push((
                    g,
                    doc["kind"].as_str().unwrap_or_default().to_string(),
                    doc["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ));
                let (r, ok) = apply(api, &name, doc.clone(), &ns);
                results.push(r);
                if !ok {
                    failed = Some("one or more objects failed to apply");
                }
            }
            if op
                .pointer("/sync/prune")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                results.extend(prune(api, &name, &ns, &keep));
            }
        }
        if failed.is_some() {
            break;
        }
        for doc in hooks_docs
            .iter()
            .filter(|d| hooks::phases(d).iter().any(|p| p == phase))
        {
            let (r, ok) = hooks::run(api, &name, &revision, doc.clone(), &ns, phase).await;
            results.push(r);
            if !ok {
                failed = Some("one or more synchronization tasks completed unsuccessfully");
                break;
            }
        }
        if failed.is_some() {
            break;
        }
    }
    let resources: Vec<Value> = results
        .iter()
        .filter(|r| r.get("hookType").is_none())
        .cloned()
        .collect();
    let synced = resources.iter().all(|r| r["status"] != "SyncFailed");
    let health = if synced {
        health(api, &resources).await
    } else {
        "Degraded"
    };
    let (phase, message) = match failed {
        Some(m) => ("Failed", m),
        None => ("Succeeded", "successfully synced (all tasks run)"),
    };
    let source = app["spec"]["source"].clone();
    let state = json!({"operation": op, "phase": phase, "message": message, "startedAt": started, "finishedAt": now(),
        "syncResult": {"revision": revision, "source": source, "resources": results}});
    let sync = json!({"status": if synced { "Synced" } else { "OutOfSync" }, "revision": revision, "comparedTo": {"source": source, "destination": app["spec"]["destination"]}});
    let history = json!([{"id": 0, "revision": revision, "deployedAt": now(), "source": source, "deployStartedAt": started}]);
    let mut status = json!({"operationState": state, "sync": sync, "health": {"status": health, "lastTransitionTime": now()}, "reconciledAt": now()});
    if phase == "Succeeded" {
        status["history"] = history;
    }
    write(api, &app, &json!({"operation": null, "status": status}));
}
