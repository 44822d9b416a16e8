//! A `Cluster` as the operator reads it: the spec fields the sandbox acts on, with CNPG's
//! defaults (section 1 of the reference), and the names CNPG derives from it.
use serde_json::Value;

use crate::world::postgres::InitOptions;

pub const GROUP: &str = "postgresql.cnpg.io";
/// CNPG 1.30's compiled-in default image (used when `spec.imageName` is unset).
pub const DEFAULT_IMAGE: &str = "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie";

#[derive(Debug, Clone)]
pub struct ClusterView {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub instances: u32,
    pub image: String,
    pub superuser_access: bool,
    /// `bootstrap.initdb` (or `.recovery`) `.database` (default `app`) and `owner` (default:
    /// the database).
    pub database: String,
    pub owner: String,
    /// `bootstrap.initdb` (or `.recovery`) `.secret.name`: the app credentials are then the
    /// user's, not `-app`.
    pub app_secret: Option<String>,
    pub superuser_secret: Option<String>,
    pub init: InitOptions,
    pub post_init_sql: Vec<String>,
    pub post_init_app_sql: Vec<String>,
    pub post_init_template_sql: Vec<String>,
    /// `bootstrap.recovery`, when the Cluster is bootstrapped from a backup.
    pub recovery: Option<Value>,
    pub storage_size: String,
    pub storage_class: Option<String>,
    pub deleting: bool,
    pub annotations: Value,
    /// The whole spec, for the parts read elsewhere (backup, plugins).
    pub spec: Value,
    pub status: Value,
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl ClusterView {
    pub fn parse(obj: &Value) -> ClusterView {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).map(String::from);
        let init = obj
            .pointer("/spec/bootstrap/initdb")
            .cloned()
            .unwrap_or(Value::Null);
        let recovery = obj.pointer("/spec/bootstrap/recovery").cloned();
        // The application database and owner: from the bootstrap method in use.
        let app = recovery.as_ref().unwrap_or(&init);
        let database = app["database"].as_str().unwrap_or("app").to_string();
        let owner = app["owner"].as_str().unwrap_or(&database).to_string();
        ClusterView {
            ns: s("/metadata/namespace").unwrap_or_default(),
            name: s("/metadata/name").unwrap_or_default(),
            uid: s("/metadata/uid").unwrap_or_default(),
            instances: obj
                .pointer("/spec/instances")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1) as u32,
            image: s("/spec/imageName").unwrap_or_else(|| DEFAULT_IMAGE.into()),
            superuser_access: obj
                .pointer("/spec/enableSuperuserAccess")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            app_secret: app
                .pointer("/secret/name")
                .and_then(Value::as_str)
                .map(String::from),
            superuser_secret: s("/spec/superuserSecret/name"),
            init: InitOptions {
                encoding: init["encoding"].as_str().map(String::from),
                locale_collate: init["localeCollate"].as_str().map(String::from),
                locale_ctype: init["localeCType"].as_str().map(String::from),
                data_checksums: init["dataChecksums"].as_bool().unwrap_or(false),
            },
            post_init_sql: strs(&init["postInitSQL"]),
            post_init_app_sql: strs(&init["postInitApplicationSQL"]),
            post_init_template_sql: strs(&init["postInitTemplateSQL"]),
            recovery,
            database,
            owner,
            storage_size: s("/spec/storage/size").unwrap_or_else(|| "1Gi".into()),
            storage_class: s("/spec/storage/storageClass"),
            deleting: obj.pointer("/metadata/deletionTimestamp").is_some(),
            annotations: obj
                .pointer("/metadata/annotations")
                .cloned()
                .unwrap_or(Value::Null),
            spec: obj.get("spec").cloned().unwrap_or(Value::Null),
            status: obj.get("status").cloned().unwrap_or(Value::Null),
        }
    }

    /// `ns/name`, for messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }

    /// Instance (pod, PVC) name for a serial: `<cluster>-<serial>`.
    pub fn instance_name(&self, serial: u32) -> String {
        format!("{}-{serial}", self.name)
    }

    pub fn primary(&self) -> String {
        self.instance_name(1)
    }

    /// The owner reference CNPG puts on every child (controller, blocking deletion).
    pub fn owner_ref(&self) -> Value {
        serde_json::json!([{
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": self.name,
            "uid": self.uid, "controller": true, "blockOwnerDeletion": true,
        }])
    }

    /// The image tag's leading major version (`15.4-...` → 15), as CNPG parses it.
    pub fn image_major(&self) -> Option<u32> {
        let image = self.image.split('@').next()?;
        let (_, tag) = image.rsplit_once(':').filter(|(_, t)| !t.contains('/'))?;
        let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_cnpg() {
        let c = ClusterView::parse(
            &json!({"metadata": {"namespace": "n", "name": "c"}, "spec": {"instances": 1}}),
        );
        assert_eq!((c.database.as_str(), c.owner.as_str()), ("app", "app"));
        assert_eq!(c.image, DEFAULT_IMAGE);
        assert_eq!(c.image_major(), Some(18));
        assert!(!c.superuser_access);
        assert_eq!(c.primary(), "c-1");
    }

    #[test]
    fn owner_defaults_to_database_and_major_is_parsed() {
        let c = ClusterView::parse(&json!({"metadata": {"name": "c"}, "spec": {
            "imageName": "ghcr.io/cloudnative-pg/postgresql:15.6-minimal-bookworm@sha256:ab",
            "bootstrap": {"initdb": {"database": "synestra"}}}}));
        assert_eq!(c.owner, "synestra");
        assert_eq!(c.image_major(), Some(15));
        let c = ClusterView::parse(&json!({"spec": {"imageName": "registry:5000/postgresql"}}));
        assert_eq!(c.image_major(), None, "a registry port is not a tag");
    }
}
