//! Applying one desired resource (create, or a merge patch of what Git sets over the live
//! object: a hand-made change to a field Git sets is undone, fields Git leaves alone are kept),
//! and creating the destination namespace when the operation has `CreateNamespace=true`.
use serde_json::{json, Value};

use super::target::Target;
use super::MANAGER;
use crate::cluster::Cluster;

/// Creates or updates `t`; returns its `syncResult.resources[]` entry and success.
pub fn apply(api: &Cluster, t: &Target) -> (Value, bool) {
    let mut result = t.entry();
    result["syncPhase"] = json!("Sync");
    result["status"] = json!("Synced");
    let outcome = match t.live(api) {
        None => api.create_obj(&t.doc, MANAGER).map(|_| "created"),
        Some(_) => api
            .merge_patch(
                &t.group,
                &t.plural,
                &t.namespace,
                &t.name,
                &t.doc,
                false,
                MANAGER,
            )
            .map(|_| "configured"),
    };
    let ok = outcome.is_ok();
    let message = match outcome {
        Ok(verb) => format!("{}/{} {verb}", t.kind.to_lowercase(), t.name),
        Err(e) => e.message,
    };
    if !ok {
        result["status"] = json!("SyncFailed");
    }
    result["message"] = json!(message);
    (result, ok)
}

/// Creates namespace `ns` if it does not exist (`CreateNamespace=true`).
pub fn create_namespace(api: &Cluster, ns: &str) -> Result<(), String> {
    if api.get_obj("", "namespaces", "", ns).is_some() {
        return Ok(());
    }
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    match api.create_obj(&obj, MANAGER) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e.message),
    }
}
