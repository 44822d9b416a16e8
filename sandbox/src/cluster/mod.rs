//! The cluster as the world's controllers (the simulated CNPG operator and Argo CD, the node
//! agent, the scenario loader) use it: an ordinary API client of the real apiserver. Reads come
//! from informer caches (kube-runtime watchers), writes go to the apiserver and their result
//! into the cache; every change the watchers see is published to `subscribe()`rs.
//!
//! The methods are synchronous, as the controllers were written against an in-process store:
//! a write blocks the calling thread (off the runtime's workers) until the apiserver answers.
mod cache;
pub mod error;
mod resources;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy,
};
use kube::Client;
use serde_json::Value;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::broadcast;

use cache::Cache;
pub use error::ApiError;
pub use resources::ResourceType;
use resources::Resources;

use crate::logs::LogStore;

/// A resource type by group and plural.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResKey {
    pub group: String,
    pub plural: String,
}

impl ResKey {
    pub fn new(group: &str, plural: &str) -> Self {
        ResKey {
            group: group.into(),
            plural: plural.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change a watcher saw.
#[derive(Debug)]
pub struct Change {
    pub res: ResKey,
    pub kind: EventType,
    pub object: Value,
}

/// The types whose objects the world's controllers read often: cached and watched.
const WATCHED: &[(&str, &str)] = &[
    ("", "configmaps"),
    ("", "persistentvolumeclaims"),
    ("", "pods"),
    ("", "secrets"),
    ("", "services"),
    ("apps", "deployments"),
    ("argoproj.io", "applications"),
    ("barmancloud.cnpg.io", "objectstores"),
    ("batch", "jobs"),
    ("discovery.k8s.io", "endpointslices"),
    ("postgresql.cnpg.io", "backups"),
    ("postgresql.cnpg.io", "clusters"),
    ("postgresql.cnpg.io", "databases"),
    ("postgresql.cnpg.io", "scheduledbackups"),
];

pub struct Cluster {
    pub client: Client,
    handle: Handle,
    resources: Resources,
    caches: HashMap<ResKey, Arc<Cache>>,
    changes: broadcast::Sender<Arc<Change>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
    /// Container logs of the Pods the node agent runs.
    pub logs: Arc<LogStore>,
}

impl Cluster {
    /// Discovers the served types, starts a watcher per cached type and waits for their first
    /// lists. Runs on the current (multi-thread) runtime.
    pub async fn connect(client: Client, logs: Arc<LogStore>) -> anyhow::Result<Arc<Cluster>> {
        let resources = Resources::discover(&client).await?;
        let (changes, _) = broadcast::channel(4096);
        let mut caches = HashMap::new();
        let mut watchers = vec![];
        for (group, plural) in WATCHED {
            let Some(t) = resources.by_plural(group, plural).cloned() else {
                anyhow::bail!(
                    "the apiserver does not serve {plural}.{group} (are the CRDs loaded?)"
                );
            };
            let res = ResKey::new(group, plural);
            let c = Cache::new(res.clone(), t.clone());
            let api = Api::<DynamicObject>::all_with(client.clone(), &t.ar);
            watchers.push(tokio::spawn(c.clone().run(api, changes.clone())));
            caches.insert(res, c);
        }
        for c in caches.values() {
            c.wait_synced().await;
        }
        Ok(Arc::new(Cluster {
            client,
            handle: Handle::current(),
            resources,
            caches,
            changes,
            watchers,
            logs,
        }))
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Stops the watchers.
    pub fn close(&self) {
        for w in &self.watchers {
            w.abort();
        }
    }

    /// The served type of a kind, if any.
    pub fn kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.resources.by_kind(group, kind)
    }

    /// Every type the apiserver can list.
    pub fn listable(&self) -> &[ResourceType] {
        &self.resources.listable
    }

    /// Whether objects of the type are read from an informer cache (cheap to list often).
    pub fn is_cached(&self, group: &str, plural: &str) -> bool {
        self.caches.contains_key(&ResKey::new(group, plural))
    }

    fn resource(&self, group: &str, plural: &str) -> Result<&ResourceType, ApiError> {
        self.resources
            .by_plural(group, plural)
            .ok_or_else(|| ApiError::not_found(&format!("resource type {plural}.{group}")))
    }

    fn api(&self, t: &ResourceType, ns: Option<&str>) -> Api<DynamicObject> {
        match ns.filter(|n| t.namespaced && !n.is_empty()) {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &t.ar),
            None => Api::all_with(self.client.clone(), &t.ar),
        }
    }

    /// Runs `f` to completion from synchronous code, wherever that code runs.
    fn block<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.handle.block_on(f))
            }
            Ok(_) => std::thread::scope(|s| {
                s.spawn(|| self.handle.block_on(f))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }),
            Err(_) => self.handle.block_on(f),
        }
    }

    fn remember(&self, group: &str, plural: &str, obj: &Value) {
        if let Some(c) = self.caches.get(&ResKey::new(group, plural)) {
            c.store(obj.clone());
        }
    }

    pub fn get_obj(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        if let Some(c) = self.caches.get(&ResKey::new(group, plural)) {
            return c.get(ns, name);
        }
        let t = self.resource(group, plural).ok()?;
        let api = self.api(t, Some(ns));
        let got = self.block(async move { api.get_opt(name).await }).ok()??;
        serde_json::to_value(got).ok()
    }

    pub fn list_objs(&self, group: &str, plural: &str, ns: Option<&str>) -> Vec<Value> {
        if let Some(c) = self.caches.get(&ResKey::new(group, plural)) {
            return c.list(ns);
        }
        let Ok(t) = self.resource(group, plural) else {
            return vec![];
        };
        let api = self.api(t, ns);
        let list = self.block(async move { api.list(&Default::default()).await });
        list.map(|l| {
            l.items
                .into_iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect()
        })
        .unwrap_or_default()
    }

    /// Creates an object; its type comes from `apiVersion` and `kind`.
    pub fn create_obj(&self, obj: &Value, manager: &str) -> Result<Value, ApiError> {
        let av = obj["apiVersion"].as_str().unwrap_or_default();
        let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or_default();
        let t = self
            .resources
            .by_kind(group, kind)
            .ok_or_else(|| ApiError::not_found(&format!("resource type for {av} {kind}")))?;
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let api = self.api(t, ns);
        let body: DynamicObject =
            serde_json::from_value(obj.clone()).map_err(|e| ApiError::other(e.to_string()))?;
        let pp = PostParams {
            field_manager: Some(manager.into()),
            ..Default::default()
        };
        let out = self.block(async move { api.create(&pp, &body).await })?;
        let v = serde_json::to_value(out).map_err(|e| ApiError::other(e.to_string()))?;
        let plural = t.ar.plural.clone();
        self.remember(group, &plural, &v);
        Ok(v)
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
        let t = self.resource(group, plural)?;
        let api = self.api(t, Some(ns));
        let pp = PatchParams {
            field_manager: Some(manager.into()),
            ..Default::default()
        };
        let p = Patch::Merge(patch);
        let out = self.block(async move {
            if status {
                api.patch_status(name, &pp, &p).await
            } else {
                api.patch(name, &pp, &p).await
            }
        })?;
        let v = serde_json::to_value(out).map_err(|e| ApiError::other(e.to_string()))?;
        self.remember(group, plural, &v);
        Ok(v)
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
        let t = self.resource(group, plural)?;
        let api = self.api(t, Some(ns));
        let dp = DeleteParams {
            propagation_policy: Some(match propagation {
                Some("Foreground") => PropagationPolicy::Foreground,
                Some("Orphan") => PropagationPolicy::Orphan,
                _ => PropagationPolicy::Background,
            }),
            ..Default::default()
        };
        let out = self.block(async move { api.delete(name, &dp).await })?;
        if let Some(c) = self.caches.get(&ResKey::new(group, plural)) {
            match out.left().and_then(|o| serde_json::to_value(o).ok()) {
                // Still there: finalizers or a foreground deletion hold it.
                Some(v) => {
                    c.store(v);
                }
                None => c.remove(&serde_json::json!({"metadata": {"namespace": ns, "name": name}})),
            }
        }
        Ok(())
    }
}

impl Cluster {
    /// Removes a Pod for good (grace period 0, only if it still has `uid`): what the kubelet
    /// does once a deleted Pod's containers have stopped.
    pub fn delete_now(&self, ns: &str, name: &str, uid: &str) -> Result<(), ApiError> {
        let api: Api<DynamicObject> = self.api(self.resource("", "pods")?, Some(ns));
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid.into()),
                resource_version: None,
            }),
            ..Default::default()
        };
        self.block(async move { api.delete(name, &dp).await })?;
        Ok(())
    }

    /// A ServiceAccount token bound to a Pod (the TokenRequest API), as the kubelet mounts it.
    pub fn pod_token(&self, ns: &str, sa: &str, pod: &str, uid: &str) -> Result<String, ApiError> {
        let api: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.client.clone(), ns);
        let req: k8s_openapi::api::authentication::v1::TokenRequest =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": [], "expirationSeconds": 3607,
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": uid}}
            }))
            .map_err(|e| ApiError::other(e.to_string()))?;
        let out: k8s_openapi::api::authentication::v1::TokenRequest = self.block(async move {
            api.create_token_request(sa, &Default::default(), &req)
                .await
        })?;
        out.status
            .and_then(|s| s.token)
            .ok_or_else(|| ApiError::other("a TokenRequest without a token"))
    }
}

impl Cluster {
    /// Every object of every listable type, as JSON (a test's "nothing changed" and leak scans),
    /// but the Leases controllers renew every few seconds (see [`renewed_by_a_controller`]).
    pub async fn everything(&self) -> Vec<Value> {
        let mut all = vec![];
        for t in &self.resources.listable {
            let api = Api::<DynamicObject>::all_with(self.client.clone(), &t.ar);
            // Types without a list verb (reviews, bindings) answer 404/405: nothing to dump.
            let Ok(list) = api.list(&Default::default()).await else {
                continue;
            };
            for o in list.items {
                if t.ar.plural == "leases" && renewed_by_a_controller(&o) {
                    continue;
                }
                let mut v = serde_json::to_value(o).unwrap_or_default();
                v["apiVersion"] = t.ar.api_version.clone().into();
                v["kind"] = t.ar.kind.clone().into();
                all.push(v);
            }
        }
        all
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.close();
    }
}

/// Now, as Kubernetes writes times (RFC 3339, seconds).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A Lease some controller renews every few seconds on its own: the apiserver's identity
/// Leases (`kube-system`), the operators' leader elections (`cnpg-system`), and each CNPG
/// instance manager's primary Lease (owned by its Cluster).
fn renewed_by_a_controller(lease: &DynamicObject) -> bool {
    let ns = lease.metadata.namespace.as_deref();
    let owned_by_cluster = lease
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.kind == "Cluster" && r.api_version.starts_with("postgresql.cnpg.io/"));
    matches!(ns, Some("kube-system" | "cnpg-system")) || owned_by_cluster
}
