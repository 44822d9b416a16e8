//! Which object store a Cluster archives into, read from its spec alone (no I/O): in-tree
//! `spec.backup.barmanObjectStore` (server name: its `serverName`, else the Cluster's name), or
//! the barman-cloud plugin (`spec.plugins[]` named `barman-cloud.cloudnative-pg.io` with
//! `parameters.barmanObjectName`, the WAL archiver preferred; server name: `parameters.serverName`,
//! else the Cluster's name) whose `ObjectStore.spec.configuration` has the same shape.

use serde::Serialize;
use serde_json::Value;

use super::layout::{Destination, Layout};

/// The barman-cloud CNPG-I plugin's name.
pub(crate) const PLUGIN: &str = "barman-cloud.cloudnative-pg.io";

/// How the Cluster reaches its store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "camelCase")]
pub(crate) enum Form {
    /// `spec.backup.barmanObjectStore`.
    InTree,
    /// `spec.plugins[]` and the named `ObjectStore`.
    #[serde(rename_all = "camelCase")]
    Plugin { object_store: String },
}

impl Form {
    /// The `Backup.spec.method` that matches.
    pub(crate) fn backup_method(&self) -> &'static str {
        match self {
            Form::InTree => "barmanObjectStore",
            Form::Plugin { .. } => "plugin",
        }
    }

    /// The `Backup.spec.pluginConfiguration.name` that matches, if any.
    pub(crate) fn backup_plugin(&self) -> Option<&'static str> {
        match self {
            Form::InTree => None,
            Form::Plugin { .. } => Some(PLUGIN),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Form::InTree => "in-tree spec.backup.barmanObjectStore".into(),
            Form::Plugin { object_store } => {
                format!("barman-cloud plugin, ObjectStore {object_store}")
            }
        }
    }
}

/// Where the plugin form points before its `ObjectStore` is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginRef {
    pub object_store: String,
    pub server_name: Option<String>,
}

/// A `{name, key}` Secret key selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SecretRef {
    pub name: String,
    pub key: String,
}

/// Everything needed to read the store; Secrets only by reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoreSpec {
    #[serde(flatten)]
    pub form: Form,
    pub destination_path: String,
    pub layout: Layout,
    pub endpoint: Option<String>,
    #[serde(skip)]
    pub endpoint_ca: Option<SecretRef>,
    #[serde(skip)]
    pub access_key_id: Option<SecretRef>,
    #[serde(skip)]
    pub secret_access_key: Option<SecretRef>,
    #[serde(skip)]
    pub region: Option<SecretRef>,
    #[serde(skip)]
    pub session_token: Option<SecretRef>,
    pub inherit_from_iam_role: bool,
}

/// The in-tree store configuration, if the Cluster has one.
pub(crate) fn in_tree(cluster: &Value) -> Option<&Value> {
    cluster
        .pointer("/spec/backup/barmanObjectStore")
        .filter(|v| v.is_object())
}

/// The barman-cloud plugin entry naming an ObjectStore (the WAL archiver first), if any.
pub(crate) fn plugin(cluster: &Value) -> Option<PluginRef> {
    let entries = cluster.pointer("/spec/plugins")?.as_array()?;
    let usable = |p: &&Value| {
        p["name"] == PLUGIN
            && p["enabled"] != false
            && p["parameters"]["barmanObjectName"].is_string()
    };
    let entry = entries
        .iter()
        .filter(usable)
        .find(|p| p["isWALArchiver"] == true)
        .or_else(|| entries.iter().find(usable))?;
    let text = |k: &str| entry["parameters"][k].as_str().map(String::from);
    Some(PluginRef {
        object_store: text("barmanObjectName")?,
        server_name: text("serverName"),
    })
}

/// The spec of a store from its `BarmanObjectStoreConfiguration` (`cfg`).
pub(crate) fn spec(form: Form, cfg: &Value, server_name: &str) -> Result<StoreSpec, String> {
    let path = cfg["destinationPath"]
        .as_str()
        .ok_or("the store configuration has no destinationPath")?;
    let destination = Destination::parse(path)?;
    if cfg.get("azureCredentials").is_some() || cfg.get("googleCredentials").is_some() {
        return Err("only S3-compatible stores (s3Credentials) are supported".into());
    }
    let creds = &cfg["s3Credentials"];
    let inherit = creds["inheritFromIAMRole"] == true;
    let (key_id, secret) = (
        selector(&creds["accessKeyId"]),
        selector(&creds["secretAccessKey"]),
    );
    if !inherit && (key_id.is_none() || secret.is_none()) {
        return Err(
            "s3Credentials needs accessKeyId and secretAccessKey (name and key of a Secret)".into(),
        );
    }
    Ok(StoreSpec {
        form,
        destination_path: path.to_string(),
        layout: Layout::new(destination, server_name),
        endpoint: cfg["endpointURL"].as_str().map(String::from),
        endpoint_ca: selector(&cfg["endpointCA"]),
        access_key_id: key_id,
        secret_access_key: secret,
        region: selector(&creds["region"]),
        session_token: selector(&creds["sessionToken"]),
        inherit_from_iam_role: inherit,
    })
}

fn selector(v: &Value) -> Option<SecretRef> {
    Some(SecretRef {
        name: v["name"].as_str()?.to_string(),
        key: v["key"].as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> Value {
        json!({"destinationPath": "s3://backups/cnpg", "endpointURL": "http://s3:9000",
            "endpointCA": {"name": "ca", "key": "ca.crt"},
            "s3Credentials": {"accessKeyId": {"name": "s3-creds", "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": "s3-creds", "key": "ACCESS_SECRET_KEY"}}})
    }

    #[test]
    fn in_tree_store_with_default_server_name() {
        let c = json!({"spec": {"backup": {"barmanObjectStore": cfg()}}});
        let s = spec(Form::InTree, in_tree(&c).unwrap(), "prod").unwrap();
        assert_eq!(s.layout.base(), "cnpg/prod/base/");
        assert_eq!(s.endpoint.as_deref(), Some("http://s3:9000"));
        assert_eq!(s.endpoint_ca.unwrap().key, "ca.crt");
        assert_eq!(s.secret_access_key.unwrap().name, "s3-creds");
        assert_eq!(Form::InTree.backup_method(), "barmanObjectStore");
    }

    #[test]
    fn plugin_entry_prefers_the_wal_archiver() {
        let c = json!({"spec": {"plugins": [
            {"name": PLUGIN, "parameters": {"barmanObjectName": "other"}},
            {"name": "something-else", "isWALArchiver": true},
            {"name": PLUGIN, "isWALArchiver": true, "parameters": {"barmanObjectName": "store", "serverName": "web-a"}}]}});
        let p = plugin(&c).unwrap();
        assert_eq!(p.object_store, "store");
        assert_eq!(p.server_name.as_deref(), Some("web-a"));
        let disabled = json!({"spec": {"plugins": [{"name": PLUGIN, "enabled": false,
            "parameters": {"barmanObjectName": "x"}}]}});
        assert_eq!(plugin(&disabled), None);
        assert_eq!(plugin(&json!({"spec": {}})), None);
        assert_eq!(in_tree(&json!({"spec": {}})), None);
    }

    #[test]
    fn unusable_configurations_say_why() {
        let mut c = cfg();
        c["destinationPath"] = json!("gs://b/p");
        assert!(spec(Form::InTree, &c, "x").unwrap_err().contains("s3://"));
        let mut c = cfg();
        c["s3Credentials"] = json!({});
        assert!(spec(Form::InTree, &c, "x")
            .unwrap_err()
            .contains("accessKeyId"));
        c["s3Credentials"] = json!({"inheritFromIAMRole": true});
        assert!(spec(Form::InTree, &c, "x").unwrap().inherit_from_iam_role);
    }
}
