//! The simulated CloudNativePG operator: a `Cluster` becomes a real PostgreSQL server (see
//! [`crate::world`]) with the Secrets, Services, PVCs, Pods and status the real operator
//! writes. It reconciles on store changes and every few seconds ([`runner`]); every step is
//! idempotent. Like the real operator, it puts no finalizer on the Cluster: children carry
//! owner references and go with the garbage collector, and the server with its data dir is
//! removed when the Cluster is gone.
pub mod backup;
pub mod bootstrap;
pub mod children;
pub mod cluster;
pub mod credentials;
pub mod database;
pub mod error;
pub mod instance;
pub mod reconcile;
pub mod recovery;
pub mod recovery_job;
pub mod recovery_target;
pub mod recovery_window;
pub mod roles;
pub mod runner;
pub mod scheduled;
pub mod secrets;
pub mod status;
pub mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::cluster::Change;
use crate::cluster::Cluster;
use crate::world::World;
use cluster::GROUP;

/// The field manager of the operator's writes (controller-runtime's default for CNPG).
pub const MANAGER: &str = "manager";

/// `(namespace, cluster, role)`.
type RoleKey = (String, String, String);

/// What a reconcile needs: the API, the world, and which Secret version each role's password
/// was last set from.
pub struct Ctx {
    pub api: Arc<Cluster>,
    pub world: Arc<World>,
    applied: Mutex<HashMap<RoleKey, String>>,
}

impl Ctx {
    pub fn new(api: Arc<Cluster>, world: Arc<World>) -> Self {
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

/// One unit of work of the loop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    Cluster(String, String),
    Backup(String, String),
    Scheduled(String, String),
}

/// Starts the operator; abort the handle to stop it (the world's servers stay until
/// [`World::shutdown`]).
pub fn spawn(api: Arc<Cluster>, world: Arc<World>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(runner::run(Arc::new(Ctx::new(api, world))))
}

/// The work a change calls for: a Cluster itself, a child of one, or a Backup.
fn relevant(change: &Change) -> Option<Work> {
    let o = &change.object;
    let ns = o
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)?
        .to_string();
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)?
        .to_string();
    if change.res.group == GROUP && change.res.plural == "clusters" {
        return Some(Work::Cluster(ns, name));
    }
    if change.res.group == GROUP && change.res.plural == "backups" {
        return Some(Work::Backup(ns, name));
    }
    if change.res.group == GROUP && change.res.plural == "scheduledbackups" {
        return Some(Work::Scheduled(ns, name));
    }
    let child = ["pods", "services", "secrets", "persistentvolumeclaims"]
        .contains(&change.res.plural.as_str());
    if change.res.group.is_empty() && child {
        let cluster = o
            .pointer("/metadata/labels/cnpg.io~1cluster")
            .and_then(Value::as_str)?;
        return Some(Work::Cluster(ns, cluster.to_string()));
    }
    None
}

fn key_of(o: &Value) -> Option<(String, String)> {
    Some((
        o.pointer("/metadata/namespace")?.as_str()?.to_string(),
        o.pointer("/metadata/name")?.as_str()?.to_string(),
    ))
}

/// Every Cluster, every cluster the world still runs a server for, every Backup not picked
/// up yet, and every ScheduledBackup (their schedules are checked at each resync).
fn all_work(ctx: &Ctx) -> BTreeSet<Work> {
    let clusters = ctx.api.list_objs(GROUP, "clusters", None);
    let mut work: BTreeSet<Work> = clusters
        .iter()
        .filter_map(key_of)
        .map(|(n, c)| Work::Cluster(n, c))
        .collect();
    for ((ns, instance), _) in ctx.world.instances() {
        if let Some((cluster, _)) = instance.rsplit_once('-') {
            work.insert(Work::Cluster(ns, cluster.to_string()));
        }
    }
    let backups = ctx.api.list_objs(GROUP, "backups", None);
    let new = backups.iter().filter(|b| {
        b.pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
    });
    work.extend(new.filter_map(key_of).map(|(n, b)| Work::Backup(n, b)));
    let scheduled = ctx.api.list_objs(GROUP, "scheduledbackups", None);
    work.extend(
        scheduled
            .iter()
            .filter_map(key_of)
            .map(|(n, s)| Work::Scheduled(n, s)),
    );
    work
}
