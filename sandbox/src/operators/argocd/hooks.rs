//! Sync hooks: a hook Job is (re)created per `hook-delete-policy` (BeforeHookCreation by
//! default), held by `argocd.argoproj.io/hook-finalizer` while it runs, waited for, and deleted
//! after success or failure when its policy says so. Hooks carry the app's tracking annotation
//! like every resource it applies, and are never pruned.
use std::time::Duration;

use serde_json::{json, Value};

use super::{tracking, MANAGER};
use crate::cluster::Cluster;

pub const HOOK: &str = "argocd.argoproj.io/hook";
const DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
const FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

fn annotation<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// The hook phases a manifest is a hook for (empty for a plain resource).
pub fn phases(doc: &Value) -> Vec<String> {
    annotation(doc, HOOK)
        .map(|h| h.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

fn finished(job: &Value) -> Option<(bool, String)> {
    let conds = job.pointer("/status/conditions")?.as_array()?;
    let done = |t: &str| {
        conds
            .iter()
            .find(|c| c["type"] == t && c["status"] == "True")
    };
    if done("Complete").is_some() {
        return Some((true, "Reached expected number of succeeded pods".into()));
    }
    done("Failed").map(|c| {
        (
            false,
            c["message"].as_str().unwrap_or("Job failed").to_string(),
        )
    })
}

async fn wait_gone(api: &Cluster, ns: &str, name: &str) {
    for _ in 0..300 {
        if api.get_obj("batch", "jobs", ns, name).is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn drop_finalizer(api: &Cluster, ns: &str, name: &str) {
    if let Some(job) = api.get_obj("batch", "jobs", ns, name) {
        let rest: Vec<Value> = job
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        let _ = api.merge_patch(
            "batch",
            "jobs",
            ns,
            name,
            &json!({"metadata": {"finalizers": rest}}),
            false,
            MANAGER,
        );
    }
}

/// Runs one hook Job for `phase`; returns its `syncResult.resources[]` entry and success.
pub async fn run(
    api: &Cluster,
    app_key: &str,
    revision: &str,
    mut doc: Value,
    ns: &str,
    phase: &str,
) -> (Value, bool) {
    let policies: Vec<String> = annotation(&doc, DELETE_POLICY)
        .unwrap_or("BeforeHookCreation")
        .split(',')
        .map(|p| p.trim().to_string())
        .collect();
    let name = match doc.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => {
            let prefix = doc
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .unwrap_or("hook-");
            format!(
                "{prefix}{}-{}-{}",
                &revision[..7.min(revision.len())],
                phase,
                chrono::Utc::now().timestamp()
            )
            .to_lowercase()
        }
    };
    let mut result = json!({"group": "batch", "version": "v1", "kind": "Job", "namespace": ns, "name": name, "hookType": phase, "syncPhase": phase, "status": "Synced"});
    if api.get_obj("batch", "jobs", ns, &name).is_some()
        && policies.iter().any(|p| p == "BeforeHookCreation")
    {
        drop_finalizer(api, ns, &name);
        let _ = api.delete_obj("batch", "jobs", ns, &name, Some("Background"));
        wait_gone(api, ns, &name).await;
    }
    doc["metadata"]["name"] = json!(name);
    doc["metadata"]["namespace"] = json!(ns);
    doc["metadata"]["finalizers"] = json!([FINALIZER]);
    tracking::mark(app_key, &mut doc);
    if let Err(e) = api.create_obj(&doc, MANAGER) {
        result["hookPhase"] = json!("Failed");
        result["status"] = json!("SyncFailed");
        result["message"] = json!(e.message);
        return (result, false);
    }
    result["hookPhase"] = json!("Running");
    let (ok, message) = loop {
        match api.get_obj("batch", "jobs", ns, &name) {
            None => break (false, "the hook Job was deleted while it ran".to_string()),
            Some(job) => {
                if let Some(done) = finished(&job) {
                    break done;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop_finalizer(api, ns, &name);
    let delete = (ok && policies.iter().any(|p| p == "HookSucceeded"))
        || (!ok && policies.iter().any(|p| p == "HookFailed"));
    if delete {
        let _ = api.delete_obj("batch", "jobs", ns, &name, Some("Background"));
    }
    result["hookPhase"] = json!(if ok { "Succeeded" } else { "Failed" });
    result["message"] = json!(message);
    (result, ok)
}
