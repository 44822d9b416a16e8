//! The CNPG `Backup` object: its manifest (named `<cluster>-<suffix>`, the method its store
//! needs), its API, and the wait until it is `backup_completed` with its phase as progress.
//! Shared by `cnpgops backup` and the `cnpg.backup` step kind.

use std::time::Duration;

use kube::core::DynamicObject;
use kube::Api;
use serde_json::{json, Value};

use super::conditions::{Condition, On};
use super::{resources, wait, K8sError, Kube, ObjectRef, MANAGED_BY};

/// The Backup object `name` of `cluster`: `spec.method` `method` (`barmanObjectStore`,
/// `plugin`), and with `plugin`, its `pluginConfiguration`.
pub(crate) fn manifest(
    cluster: &ObjectRef,
    method: &str,
    plugin: Option<&str>,
    name: &str,
) -> Value {
    let mut spec = json!({"cluster": {"name": cluster.name}, "method": method});
    if let Some(plugin) = plugin {
        spec["pluginConfiguration"] = json!({"name": plugin});
    }
    json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": name,
            "namespace": cluster.namespace,
            "labels": {MANAGED_BY.0: MANAGED_BY.1, "cnpg.io/cluster": cluster.name},
        },
        "spec": spec,
    })
}

/// The Backups of namespace `ns`.
pub(crate) fn api(kube: &Kube, ns: &str) -> Api<DynamicObject> {
    let kind = resources::known("Backup", Some("postgresql.cnpg.io/v1"))
        .unwrap_or_else(|| unreachable!("Backup is listed in k8s::resources"));
    kind.api(kube, ns)
}

/// Watches the Backup until it is `backup_completed`, telling `progress` each new phase; its
/// `status`. A failed Backup ends the wait at once ([`K8sError::Unreachable`] with the
/// Backup's `status.error`; [`failure`] words it).
pub(crate) async fn wait(
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    timeout: Duration,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, K8sError> {
    let mut last = String::from("(none)");
    let seen = |o: &DynamicObject| {
        let phase = o.data.pointer("/status/phase").and_then(Value::as_str);
        if let Some(phase) = phase.filter(|p| *p != last) {
            progress(phase);
            last = phase.to_string();
        }
    };
    let judge = On {
        condition: Condition::BackupCompleted,
        uid: None,
    };
    let found = wait::until_seeing(api, object, &judge, timeout, seen).await?;
    Ok(found
        .map(|o| o.data["status"].clone())
        .unwrap_or(Value::Null))
}

/// How a failed [`wait()`] is told: `Backup ns/name failed: <status.error>`, or the timeout;
/// `None` for other errors (the API's own).
pub(crate) fn failure(object: &ObjectRef, e: &K8sError) -> Option<String> {
    match e {
        K8sError::Unreachable { reason, .. } => Some(format!("{object} failed: {reason}")),
        K8sError::TimedOut { .. } => Some(e.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_and_plugin_are_as_given() {
        let c = ObjectRef::new("Cluster", Some("databases"), "shop-cnpg");
        let in_tree = manifest(&c, "barmanObjectStore", None, "shop-cnpg-20261124010203");
        assert_eq!(in_tree["spec"]["method"], "barmanObjectStore");
        assert!(in_tree["spec"].get("pluginConfiguration").is_none());
        assert_eq!(
            in_tree["metadata"]["labels"]["cnpg.io/cluster"],
            "shop-cnpg"
        );
        let plugin = manifest(&c, "plugin", Some("barman-cloud.cloudnative-pg.io"), "b");
        assert_eq!(plugin["spec"]["method"], "plugin");
        assert_eq!(
            plugin["spec"]["pluginConfiguration"]["name"],
            "barman-cloud.cloudnative-pg.io"
        );
        assert_eq!(plugin["spec"]["cluster"]["name"], "shop-cnpg");
        assert_eq!(plugin["metadata"]["namespace"], "databases");
    }

    #[test]
    fn a_failed_backup_is_told_with_its_reason() {
        let o = ObjectRef::new("Backup", Some("d"), "b");
        let never = K8sError::Unreachable {
            object: o.clone(),
            condition: "backup_completed".into(),
            reason: "phase `failed`: no space".into(),
        };
        assert_eq!(
            failure(&o, &never).as_deref(),
            Some("Backup d/b failed: phase `failed`: no space")
        );
        assert_eq!(failure(&o, &K8sError::NotFound { object: o.clone() }), None);
    }
}
