//! Pruning: the live objects tracked by an Application that "Git" no longer holds, of every
//! kind the apiserver serves (hooks excepted: their delete policy owns them), deleted with the
//! operation's `PrunePropagationPolicy` (foreground by default, as Argo CD does).
use serde_json::{json, Value};

use super::target::Target;
use super::{hooks, tracking};
use crate::cluster::Cluster;

const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

fn text(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Tracked live objects no target names. `cheap`: only the types the world caches, and only in
/// the destination namespace (a refresh, run often); otherwise every listable type everywhere.
pub fn extras(api: &Cluster, app: &Value, targets: &[Target], cheap: bool) -> Vec<Target> {
    let key = tracking::app_key(app);
    let dest = super::compare::dest_namespace(app);
    let mut out = vec![];
    for t in api.listable() {
        let group = t.ar.group.clone();
        if cheap && !api.is_cached(&group, &t.ar.plural) {
            continue;
        }
        let scope = (cheap && t.namespaced).then_some(dest.as_str());
        for mut live in api.list_objs(&group, &t.ar.plural, scope) {
            // List items from the API come without their type.
            live["apiVersion"] = json!(t.ar.api_version);
            live["kind"] = json!(t.ar.kind);
            let (ns, name) = (
                text(&live, "/metadata/namespace"),
                text(&live, "/metadata/name"),
            );
            if !tracking::tracked(&key, &live)
                || !hooks::phases(&live).is_empty()
                || live.pointer("/metadata/deletionTimestamp").is_some()
                || targets.iter().any(|x| x.is(&group, &t.ar.kind, &ns, &name))
            {
                continue;
            }
            out.push(Target {
                group: group.clone(),
                version: t.ar.version.clone(),
                kind: t.ar.kind.clone(),
                plural: t.ar.plural.clone(),
                namespace: ns,
                name,
                doc: live,
            });
        }
    }
    out
}

/// The propagation policy a `PrunePropagationPolicy=` sync option asks for (foreground).
pub fn propagation(options: &[String]) -> &'static str {
    let asked = options
        .iter()
        .find_map(|o| o.strip_prefix("PrunePropagationPolicy="));
    match asked.map(str::to_lowercase).as_deref() {
        Some("background") => "Background",
        Some("orphan") => "Orphan",
        _ => "Foreground",
    }
}

/// Deletes every extra `selected` accepts; returns their `syncResult.resources[]` entries.
pub fn prune(
    api: &Cluster,
    app: &Value,
    targets: &[Target],
    options: &[String],
    selected: &dyn Fn(&Target) -> bool,
) -> Vec<Value> {
    let policy = propagation(options);
    let mut out = vec![];
    for x in extras(api, app, targets, false)
        .into_iter()
        .filter(|x| selected(x))
    {
        let mut r = x.entry();
        r["syncPhase"] = json!("Sync");
        let keep = x
            .doc
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(SYNC_OPTIONS))
            .and_then(Value::as_str)
            .is_some_and(|o| o.split(',').any(|o| o.trim() == "Prune=false"));
        let (status, message) = if keep {
            ("PruneSkipped", "ignored (no prune)".to_string())
        } else {
            match api.delete_obj(&x.group, &x.plural, &x.namespace, &x.name, Some(policy)) {
                Ok(()) => ("Pruned", "pruned".to_string()),
                Err(e) => ("SyncFailed", e.message),
            }
        };
        r["status"] = json!(status);
        r["message"] = json!(message);
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_is_foreground_unless_an_option_says_otherwise() {
        assert_eq!(propagation(&[]), "Foreground");
        let o = |s: &str| vec![s.to_string()];
        assert_eq!(
            propagation(&o("PrunePropagationPolicy=background")),
            "Background"
        );
        assert_eq!(propagation(&o("PrunePropagationPolicy=orphan")), "Orphan");
    }
}
