//! The Argo CD application controller of the sandbox. An Application's "Git" source is a
//! ConfigMap named by its `sandbox.cnpgops.io/manifests` annotation (in the Application's
//! namespace), one YAML manifest per key, applied in key order. Every pass refreshes each app
//! (`status.sync`, `status.health`, `status.resources`: [`compare`]); a write of `operation`
//! runs it ([`sync`]: options, prune and retry from the operation only); `syncPolicy.automated`
//! starts operations as Argo CD 3.x does, selfHeal included ([`auto`]). Resources are tracked by
//! annotation ([`tracking`]). The Application CRD has no status subresource: every write is a
//! merge patch of the object.
mod apply;
mod auto;
pub mod backoff;
mod compare;
mod hooks;
mod prune;
mod sync;
mod target;
pub mod tracking;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::cluster::Cluster;

/// Annotation naming the ConfigMap that holds an Application's manifests.
pub const MANIFESTS: &str = "sandbox.cnpgops.io/manifests";
pub(crate) const MANAGER: &str = "argocd-application-controller";

/// The manifests of an Application and their revision (a digest of the ConfigMap's data).
pub fn source(api: &Cluster, app: &Value) -> Result<(Vec<Value>, String), String> {
    let ns = app["metadata"]["namespace"].as_str().unwrap_or_default();
    let Some(name) = app
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MANIFESTS))
        .and_then(Value::as_str)
    else {
        return Err(format!(
            "the application has no {MANIFESTS} annotation naming its manifests"
        ));
    };
    let cm = api.get_obj("", "configmaps", ns, name).ok_or_else(|| {
        format!("rpc error: code = Unknown desc = manifests ConfigMap {ns}/{name} not found")
    })?;
    let data = cm["data"].as_object().cloned().unwrap_or_default();
    let mut docs = vec![];
    for (key, text) in &data {
        let parsed: Vec<Value> = serde_saphyr::from_multiple(text.as_str().unwrap_or_default())
            .map_err(|e| format!("failed to parse {key}: {e}"))?;
        docs.extend(parsed.into_iter().filter(|d| d.is_object()));
    }
    let hash = |seed: u64| {
        data.iter().fold(seed, |h, (k, v)| {
            format!("{k}={v}")
                .bytes()
                .fold(h, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
        })
    };
    let revision = format!(
        "{:016x}{:016x}{:08x}",
        hash(0xcbf29ce484222325),
        hash(0x84222325cbf29ce4),
        hash(42) as u32
    );
    Ok((docs, revision))
}

/// Runs the controller until the sandbox stops (self-heal settings from the environment).
pub fn spawn(api: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let heal = backoff::SelfHeal::from_env();
    super::on_changes(api, &[], Duration::from_secs(1), move |api| {
        for app in api.list_objs("argoproj.io", "applications", None) {
            reconcile(api, &busy, &heal, app);
        }
    })
}

/// A merge patch of the Application (the CRD has no status subresource).
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
        tracing::warn!(app = name, error = %e.message, "failed to write the application");
    }
}

fn reconcile(
    api: &Arc<Cluster>,
    busy: &Arc<Mutex<HashSet<String>>>,
    heal: &backoff::SelfHeal,
    app: Value,
) {
    if app.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let comparison = compare::refresh(api, &app);
    let uid = app["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let lock =
        |b: &Mutex<HashSet<String>>| b.lock().unwrap_or_else(|p| p.into_inner()).contains(&uid);
    if lock(busy) {
        return;
    }
    // Read again: an operation that ended since this pass listed the apps must not run twice.
    let (ns, name) = (&app["metadata"]["namespace"], &app["metadata"]["name"]);
    let fresh = api.get_obj(
        "argoproj.io",
        "applications",
        ns.as_str().unwrap_or_default(),
        name.as_str().unwrap_or_default(),
    );
    let Some(app) = fresh else {
        return;
    };
    let app = match app.get("operation").filter(|o| !o.is_null()) {
        Some(_) => app,
        None => match auto::operation(&app, &comparison, heal) {
            Some(op) => match auto::start(api, &app, op) {
                Some(app) => app,
                None => return,
            },
            None => return,
        },
    };
    busy.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(uid.clone());
    let (api, busy) = (api.clone(), busy.clone());
    tokio::spawn(async move {
        sync::run(&api, app).await;
        busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
    });
}
