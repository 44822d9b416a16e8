//! The simulated CloudNativePG operator: a `Cluster` becomes a real PostgreSQL server (see
//! [`crate::world`]) with the Secrets, Services, PVCs, Pods and status the real operator
//! writes. One task reconciles, on store changes and every few seconds; every step is
//! idempotent. Like the real operator, it puts no finalizer on the Cluster: children carry
//! owner references and go with the garbage collector, and the server with its data dir is
//! removed when the Cluster is gone.
pub mod bootstrap;
pub mod children;
pub mod cluster;
pub mod credentials;
pub mod error;
pub mod reconcile;
pub mod secrets;
pub mod status;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::apiserver::store::Change;
use crate::apiserver::ApiServer;
use crate::world::World;
use cluster::GROUP;

/// The field manager of the operator's writes (controller-runtime's default for CNPG).
pub const MANAGER: &str = "manager";
const RESYNC: Duration = Duration::from_secs(2);

/// `(namespace, cluster, role)`.
type RoleKey = (String, String, String);

/// What a reconcile needs: the API, the world, and which Secret version each role's password
/// was last set from.
pub struct Ctx {
    pub api: Arc<ApiServer>,
    pub world: Arc<World>,
    applied: Mutex<HashMap<RoleKey, String>>,
}

impl Ctx {
    pub fn new(api: Arc<ApiServer>, world: Arc<World>) -> Self {
        Ctx {
            api,
            world,
            applied: Mutex::new(HashMap::new()),
        }
    }

    fn roles(&self) -> std::sync::MutexGuard<'_, HashMap<RoleKey, String>> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn applied(&self, key: &RoleKey) -> Option<String> {
        self.roles().get(key).cloned()
    }

    pub fn set_applied(&self, key: RoleKey, version: String) {
        self.roles().insert(key, version);
    }

    /// Forgets a cluster's applied passwords (its server is gone).
    pub fn forget(&self, ns: &str, name: &str) {
        self.roles().retain(|(n, c, _), _| !(n == ns && c == name));
    }
}

/// Starts the operator; abort the handle to stop it (the world's servers stay until
/// [`World::shutdown`]).
pub fn spawn(api: Arc<ApiServer>, world: Arc<World>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(Ctx::new(api, world)))
}

async fn run(ctx: Ctx) {
    let mut changes = ctx.api.store.subscribe();
    let mut tick = tokio::time::interval(RESYNC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut queue = BTreeSet::new();
        tokio::select! {
            c = changes.recv() => match c {
                Ok(change) => queue.extend(relevant(&change)),
                Err(RecvError::Lagged(_)) => queue.extend(all_keys(&ctx)),
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => queue.extend(all_keys(&ctx)),
        }
        // Take whatever else arrived meanwhile, then reconcile each cluster once.
        while let Ok(change) = changes.try_recv() {
            queue.extend(relevant(&change));
        }
        for (ns, name) in queue {
            if let Err(e) = reconcile::reconcile(&ctx, &ns, &name).await {
                tracing::warn!(error = %e, "cnpg: reconcile failed; retrying");
            }
        }
    }
}

/// The cluster a change concerns: a Cluster itself, or a child of one.
fn relevant(change: &Change) -> Option<(String, String)> {
    let o = &change.object;
    let ns = o
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)?
        .to_string();
    if change.res.group == GROUP && change.res.plural == "clusters" {
        return Some((
            ns,
            o.pointer("/metadata/name")
                .and_then(Value::as_str)?
                .to_string(),
        ));
    }
    let child = ["pods", "services", "secrets", "persistentvolumeclaims"]
        .contains(&change.res.plural.as_str());
    if change.res.group.is_empty() && child {
        let cluster = o
            .pointer("/metadata/labels/cnpg.io~1cluster")
            .and_then(Value::as_str)?;
        return Some((ns, cluster.to_string()));
    }
    None
}

/// Every Cluster, and every cluster the world still runs a server for.
fn all_keys(ctx: &Ctx) -> BTreeSet<(String, String)> {
    let mut keys: BTreeSet<(String, String)> = ctx
        .api
        .list_objs(GROUP, "clusters", None)
        .iter()
        .filter_map(|o| {
            Some((
                o.pointer("/metadata/namespace")?.as_str()?.to_string(),
                o.pointer("/metadata/name")?.as_str()?.to_string(),
            ))
        })
        .collect();
    for ((ns, instance), _) in ctx.world.instances() {
        if let Some((cluster, _)) = instance.rsplit_once('-') {
            keys.insert((ns, cluster.to_string()));
        }
    }
    keys
}
