//! Automated sync as Argo CD 3.x's `autoSync` decides it, after a refresh found the app
//! OutOfSync: the operation is built from the spec (options from `syncPolicy.syncOptions`,
//! `retry` from `syncPolicy.retry` or limit 5, prune from `automated.prune`); a revision already
//! attempted is not synced again unless `selfHeal` is on and that attempt succeeded, and then
//! only after the self-heal backoff, syncing the resources that drifted.
use std::time::Duration;

use serde_json::{json, Value};

use super::backoff::SelfHeal;
use super::compare::Comparison;
use super::MANAGER;
use crate::cluster::Cluster;

/// `spec.syncPolicy.automated`, when automated sync is enabled (`enabled` not false).
fn automated(app: &Value) -> Option<&Value> {
    app.pointer("/spec/syncPolicy/automated")
        .filter(|a| a.is_object() && a.get("enabled") != Some(&json!(false)))
}

fn flag(automated: &Value, key: &str) -> bool {
    automated.get(key) == Some(&json!(true))
}

/// The operation Argo CD's controller would write now, if any.
pub fn operation(app: &Value, c: &Comparison, heal: &SelfHeal) -> Option<Value> {
    let auto = automated(app)?;
    if c.status != "OutOfSync" || app.get("operation").is_some_and(|o| !o.is_null()) {
        return None;
    }
    let prune = flag(auto, "prune");
    let prune_only = c
        .resources
        .iter()
        .all(|r| r["status"] == "Synced" || r["requiresPruning"] == true);
    if !prune && prune_only {
        return None;
    }
    let spec = &app["spec"];
    let mut sync = json!({"revision": c.revision, "prune": prune, "source": spec["source"]});
    if let Some(o) = spec
        .pointer("/syncPolicy/syncOptions")
        .filter(|o| !o.is_null())
    {
        sync["syncOptions"] = o.clone();
    }
    let state = app.pointer("/status/operationState");
    if attempted(app, &c.revision) {
        let state = state?;
        if state["phase"] != "Succeeded" || !flag(auto, "selfHeal") {
            return None;
        }
        let count = state
            .pointer("/operation/sync/autoHealAttemptsCount")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32;
        if heal.delay(count) > since(state.get("finishedAt")) {
            return None;
        }
        sync["autoHealAttemptsCount"] = json!(count + 1);
        sync["resources"] = json!(c.out_of_sync());
    }
    if prune
        && auto.get("allowEmpty") != Some(&json!(true))
        && c.resources.iter().all(|r| r["requiresPruning"] == true)
    {
        return None;
    }
    let retry = spec
        .pointer("/syncPolicy/retry")
        .filter(|r| r.is_object())
        .cloned()
        .unwrap_or(json!({"limit": 5}));
    Some(json!({"sync": sync, "initiatedBy": {"automated": true}, "retry": retry}))
}

/// Whether the last operation already went to `revision` from the current source.
fn attempted(app: &Value, revision: &str) -> bool {
    let Some(state) = app.pointer("/status/operationState") else {
        return false;
    };
    match state.get("syncResult") {
        None => matches!(
            state["phase"].as_str(),
            Some("Succeeded" | "Failed" | "Error")
        ),
        Some(r) => r["revision"] == revision && r["source"] == app["spec"]["source"],
    }
}

fn since(time: Option<&Value>) -> Duration {
    time.and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| (chrono::Utc::now() - t.to_utc()).to_std().ok())
        .unwrap_or(Duration::MAX)
}

/// Writes `op` unless the app changed since it was read (then the next pass decides again).
pub fn start(api: &Cluster, app: &Value, op: Value) -> Option<Value> {
    let ns = app["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = app["metadata"]["name"].as_str().unwrap_or_default();
    let patch = json!({"metadata": {"resourceVersion": app["metadata"]["resourceVersion"]}, "operation": op});
    api.merge_patch(
        "argoproj.io",
        "applications",
        ns,
        name,
        &patch,
        false,
        MANAGER,
    )
    .ok()
}
