//! The recovery Cluster, built from a LIVE Cluster (not a template): its spec with `bootstrap`
//! replaced by `bootstrap.recovery`, an `externalClusters` entry pointing at the source's
//! store in the source's form, and its own archive (in-tree `serverName` or the plugin's
//! `parameters.serverName`) moved to a new server name, so the new timeline never lands in the
//! source's archive. Metadata keeps name, namespace, labels and annotations, minus kubectl's
//! last-applied configuration; a cluster under another name also loses Argo CD's tracking
//! (Argo CD would prune it as an extra resource of the source's Application).

use serde_json::{json, Map, Value};

use crate::backup_catalog::store::{Form, PLUGIN};

/// The `externalClusters` entry the recovery reads from.
pub(crate) const ORIGIN: &str = "cnpgops-origin";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The source's store as the recovery reads it.
#[derive(Debug, Clone)]
pub(crate) struct Origin<'a> {
    pub form: &'a Form,
    /// The source Cluster as JSON (its in-tree `barmanObjectStore` is copied).
    pub cluster: &'a Value,
    pub server: &'a str,
}

/// What changes from the live Cluster.
#[derive(Debug, Clone)]
pub(crate) struct Recovery<'a> {
    pub name: &'a str,
    pub origin: Origin<'a>,
    /// The recovered cluster's own archive server name.
    pub server_name: &'a str,
    pub recovery_target: &'a Value,
}

/// The app database, owner and credentials Secret of a live Cluster (initdb, or an earlier
/// recovery's), `None` each when it names none (CNPG's defaults: `app`, `app`, `<name>-app`).
pub(crate) fn app_credentials(live: &Value) -> Map<String, Value> {
    let boot = &live["spec"]["bootstrap"];
    let from = if boot["initdb"].is_object() {
        &boot["initdb"]
    } else {
        &boot["recovery"]
    };
    let mut out = Map::new();
    for key in ["database", "owner", "secret"] {
        if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    out
}

/// The recovery Cluster.
pub(crate) fn build(live: &Value, r: &Recovery) -> Value {
    let same_name = live["metadata"]["name"].as_str() == Some(r.name);
    let mut meta = json!({"name": r.name, "namespace": live["metadata"]["namespace"]});
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(m)) = live["metadata"].get(key) {
            let mut m = m.clone();
            m.remove(LAST_APPLIED);
            if !same_name {
                m.remove(super::argo::TRACKING_ID);
                m.remove(super::argo::INSTANCE_LABEL);
            }
            m.retain(|k, _| !k.starts_with("cnpgops.io/"));
            if !m.is_empty() {
                meta[key] = Value::Object(m);
            }
        }
    }
    let mut spec = live["spec"].clone();
    let mut recovery = app_credentials(live);
    recovery.insert("source".into(), Value::from(ORIGIN));
    recovery.insert("recoveryTarget".into(), r.recovery_target.clone());
    spec["bootstrap"] = json!({ "recovery": recovery });
    let mut external: Vec<Value> = spec["externalClusters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    external.retain(|e| e["name"] != ORIGIN);
    external.push(origin_entry(&r.origin));
    spec["externalClusters"] = Value::Array(external);
    own_archive(&mut spec, r.server_name);
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": meta, "spec": spec})
}

fn origin_entry(o: &Origin) -> Value {
    match o.form {
        Form::InTree => {
            let mut store = o.cluster["spec"]["backup"]["barmanObjectStore"].clone();
            store["serverName"] = Value::from(o.server);
            json!({"name": ORIGIN, "barmanObjectStore": store})
        }
        Form::Plugin { object_store } => json!({"name": ORIGIN, "plugin": {
            "name": PLUGIN,
            "parameters": {"barmanObjectName": object_store, "serverName": o.server}}}),
    }
}

/// Points the cluster's own archive (if any) at `server`.
fn own_archive(spec: &mut Value, server: &str) {
    if spec["backup"]["barmanObjectStore"].is_object() {
        spec["backup"]["barmanObjectStore"]["serverName"] = Value::from(server);
    }
    // `get_mut`, not `spec["plugins"]`: indexing a missing key mutably inserts `null`, which the
    // real apiserver refuses ("spec.plugins in body must be of type array").
    if let Some(plugins) = spec.get_mut("plugins").and_then(Value::as_array_mut) {
        for p in plugins.iter_mut().filter(|p| p["name"] == PLUGIN) {
            if p["parameters"]["barmanObjectName"].is_string() {
                p["parameters"]["serverName"] = Value::from(server);
            }
        }
    }
}

/// The cluster's own archive after [`build`]: (in-tree?, plugin ObjectStore name), for the
/// collision check; `None` when it archives nowhere.
pub(crate) fn archives(spec: &Value) -> Option<Form> {
    if spec["backup"]["barmanObjectStore"].is_object() {
        return Some(Form::InTree);
    }
    let cluster = json!({ "spec": spec });
    crate::backup_catalog::store::plugin(&cluster).map(|p| Form::Plugin {
        object_store: p.object_store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Value {
        json!({"metadata": {"name": "db", "namespace": "databases", "uid": "u1", "resourceVersion": "7",
                "labels": {"team": "web", "cnpgops.io/run-id": "old"},
                "annotations": {LAST_APPLIED: "{}", "argocd.argoproj.io/tracking-id": "web:postgresql.cnpg.io/Cluster:databases/db"}},
            "spec": {"instances": 1, "storage": {"size": "1Gi"},
                "bootstrap": {"initdb": {"database": "site", "owner": "site_owner", "secret": {"name": "site-creds"}}},
                "backup": {"retentionPolicy": "30d", "barmanObjectStore": {"destinationPath": "s3://b/cnpg", "serverName": "db"}}},
            "status": {"phase": "Cluster in healthy state"}})
    }

    #[test]
    fn in_tree_keeps_the_live_spec_and_the_app_credentials() {
        let target = json!({"targetTime": "2026-11-24T01:00:00Z"});
        let live = live();
        let r = Recovery {
            name: "db",
            origin: Origin {
                form: &Form::InTree,
                cluster: &live,
                server: "db",
            },
            server_name: "db-20261124-010000-abcd",
            recovery_target: &target,
        };
        let m = build(&live, &r);
        assert!(m.get("status").is_none());
        assert_eq!(
            m["metadata"],
            json!({"name": "db", "namespace": "databases",
            "labels": {"team": "web"},
            "annotations": {"argocd.argoproj.io/tracking-id": "web:postgresql.cnpg.io/Cluster:databases/db"}})
        );
        let rec = &m["spec"]["bootstrap"]["recovery"];
        assert_eq!(rec["database"], "site");
        assert_eq!(rec["owner"], "site_owner");
        assert_eq!(rec["secret"]["name"], "site-creds");
        assert_eq!(rec["source"], ORIGIN);
        assert_eq!(rec["recoveryTarget"], target);
        assert!(m["spec"]["bootstrap"].get("initdb").is_none());
        let origin = &m["spec"]["externalClusters"][0];
        assert_eq!(origin["barmanObjectStore"]["serverName"], "db");
        assert_eq!(
            origin["barmanObjectStore"]["destinationPath"],
            "s3://b/cnpg"
        );
        assert_eq!(
            m["spec"]["backup"]["barmanObjectStore"]["serverName"],
            "db-20261124-010000-abcd"
        );
        assert_eq!(m["spec"]["backup"]["retentionPolicy"], "30d");
        assert_eq!(archives(&m["spec"]), Some(Form::InTree));
    }

    #[test]
    fn plugin_form_and_another_name_drop_argo_tracking() {
        let mut live = live();
        live["spec"]["backup"] = Value::Null;
        live["spec"]["plugins"] = json!([{"name": PLUGIN, "isWALArchiver": true,
            "parameters": {"barmanObjectName": "store"}}]);
        let form = Form::Plugin {
            object_store: "store".into(),
        };
        let target = json!({"backupID": "20261124T010000", "targetImmediate": true});
        let r = Recovery {
            name: "db-copy",
            origin: Origin {
                form: &form,
                cluster: &live,
                server: "db",
            },
            server_name: "db-copy-x",
            recovery_target: &target,
        };
        let m = build(&live, &r);
        assert_eq!(m["metadata"]["name"], "db-copy");
        assert!(m["metadata"]["annotations"].is_null(), "{m:#}");
        assert_eq!(
            m["spec"]["externalClusters"][0]["plugin"],
            json!({"name": PLUGIN, "parameters": {"barmanObjectName": "store", "serverName": "db"}})
        );
        assert_eq!(
            m["spec"]["plugins"][0]["parameters"]["serverName"],
            "db-copy-x"
        );
        assert_eq!(archives(&m["spec"]), Some(form));
    }
}
