//! The API as the sandbox's own controllers use it: the same write paths as HTTP requests
//! (admission, resourceVersion, events for watches), called in-process.
use serde_json::Value;

use super::delete::DeleteOptions;
use super::registry::ResourceType;
use super::request::{Query, Target};
use super::status::ApiError;
use super::store::ResKey;
use super::ApiServer;

fn query() -> Query {
    Query::parse(None).expect("an empty query parses")
}

impl ApiServer {
    /// The resource type for a group and plural (e.g. `("postgresql.cnpg.io", "clusters")`).
    pub fn resource(&self, group: &str, plural: &str) -> Result<&ResourceType, ApiError> {
        self.registry
            .types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .ok_or_else(ApiError::not_found_path)
    }

    fn target<'a>(
        &'a self,
        group: &str,
        plural: &str,
        ns: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Result<Target<'a>, ApiError> {
        let rt = self.resource(group, plural)?;
        Ok(Target {
            rt,
            namespace: ns.filter(|_| rt.namespaced).map(String::from),
            name: name.map(String::from),
            sub: sub.map(String::from),
        })
    }

    pub fn get_obj(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.store
            .lock()
            .get(
                &ResKey::new(group, plural),
                &(ns.to_string(), name.to_string()),
            )
            .cloned()
    }

    pub fn list_objs(&self, group: &str, plural: &str, ns: Option<&str>) -> Vec<Value> {
        self.store.lock().list(&ResKey::new(group, plural), ns)
    }

    /// Creates an object; its type comes from `apiVersion` and `kind`.
    pub fn create_obj(&self, obj: &Value, manager: &str) -> Result<Value, ApiError> {
        let av = obj["apiVersion"].as_str().unwrap_or_default();
        let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or_default();
        let rt = self
            .registry
            .by_kind(group, kind)
            .ok_or_else(|| ApiError::bad_request(format!("no resource for {av} {kind}")))?;
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let t = self.target(group, &rt.plural, ns, None, None)?;
        let out = super::write::create(
            self,
            &t,
            &query(),
            &serde_json::to_vec(obj).unwrap_or_default(),
            manager,
        )?;
        self.kick();
        Ok(out.body)
    }

    /// A JSON merge patch of the object, or of its status when `status` is set.
    #[allow(clippy::too_many_arguments)]
    pub fn merge_patch(
        &self,
        group: &str,
        plural: &str,
        ns: &str,
        name: &str,
        patch: &Value,
        status: bool,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let t = self.target(
            group,
            plural,
            Some(ns),
            Some(name),
            status.then_some("status"),
        )?;
        let out = super::write::patch(
            self,
            &t,
            &query(),
            &serde_json::to_vec(patch).unwrap_or_default(),
            "application/merge-patch+json",
            Some(manager),
        )?;
        self.kick();
        Ok(out.body)
    }

    /// Deletes an object with the given propagation policy (`Background` when None).
    pub fn delete_obj(
        &self,
        group: &str,
        plural: &str,
        ns: &str,
        name: &str,
        propagation: Option<&str>,
    ) -> Result<(), ApiError> {
        let rt = self.resource(group, plural)?;
        let opts = DeleteOptions {
            propagation: Some(propagation.unwrap_or("Background").to_string()),
            ..Default::default()
        };
        let key = (
            if rt.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        );
        super::delete::delete_object(&mut self.store.lock(), rt, &key, &opts)?;
        self.kick();
        Ok(())
    }
}
