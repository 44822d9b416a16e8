//! A desired manifest placed for one Application: its namespace defaulted to the destination
//! (for namespaced kinds), its tracking annotation written, and the API type it is served as.
use serde_json::{json, Value};

use super::tracking;
use crate::cluster::Cluster;

/// One manifest of the app, ready to compare, apply or keep from pruning.
#[derive(Clone, Debug)]
pub struct Target {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
    pub doc: Value,
}

impl Target {
    /// Places `doc` for the app `app_key` deploying to `dest_ns`.
    pub fn new(api: &Cluster, app_key: &str, mut doc: Value, dest_ns: &str) -> Target {
        let (group, version) = tracking::group_version(&doc);
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let served = api.kind(&group, &kind);
        let namespaced = served.map(|t| t.namespaced).unwrap_or(true);
        if namespaced && doc.pointer("/metadata/namespace").is_none() {
            doc["metadata"]["namespace"] = json!(dest_ns);
        }
        tracking::mark(app_key, &mut doc);
        let text = |p: &str| {
            doc.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Target {
            plural: served.map(|t| t.ar.plural.clone()).unwrap_or_default(),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            group,
            version,
            kind,
            doc,
        }
    }

    /// The live object, if any.
    pub fn live(&self, api: &Cluster) -> Option<Value> {
        api.get_obj(&self.group, &self.plural, &self.namespace, &self.name)
    }

    /// A `syncResult.resources[]` / `status.resources[]` entry for this object.
    pub fn entry(&self) -> Value {
        json!({"group": self.group, "version": self.version, "kind": self.kind,
            "namespace": self.namespace, "name": self.name})
    }

    /// Whether a live object is this target (same type, namespace and name).
    pub fn is(&self, group: &str, kind: &str, ns: &str, name: &str) -> bool {
        self.group == group && self.kind == kind && self.namespace == ns && self.name == name
    }
}
