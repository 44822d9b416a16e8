//! The simulated CloudNativePG operator: a `Cluster` becomes a real PostgreSQL server (see
//! [`crate::world`]) with the Secrets, Services, PVCs, Pods and status the real operator
//! writes. One task reconciles, on store changes and every few seconds; every step is
//! idempotent. Like the real operator, it puts no finalizer on the Cluster: children carry
//! owner references and go with the garbage collector, and the server with its data dir is
//! removed when the Cluster is gone.
pub mod backup;
pub mod bootstrap;
pub mod children;
pub mod cluster;
pub mod credentials;
pub mod error;
pub mod instance;
pub mod reconcile;
pub mod recovery_window;
pub mod secrets;
pub mod status;
pub mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::apiserver::store::Change;
use crate::apiserver::ApiServer;
use crate::world::World;
use cluster::GROUP;

/// The field manager of the operator's writes (controller-runtime's default for CNPG).
pub const MANAGER: &str = "manager";
const RESYNC: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(15);

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

/// One unit of work of the loop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    Cluster(String, String),
    Backup(String, String),
}

/// Starts the operator; abort the handle to stop it (the world's servers stay until
/// [`World::shutdown`]).
pub fn spawn(api: Arc<ApiServer>, world: Arc<World>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(Ctx::new(api, world)))
}

async fn run(ctx: Ctx) {
    let mut changes = ctx.api.store.subscribe();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut tick = tokio::time::interval(RESYNC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff: HashMap<Work, (Instant, u32)> = HashMap::new();
    loop {
        let mut queue = BTreeSet::new();
        tokio::select! {
            c = changes.recv() => match c {
                Ok(change) => queue.extend(relevant(&change)),
                Err(RecvError::Lagged(_)) => queue.extend(all_work(&ctx)),
                Err(RecvError::Closed) => return,
            },
            Some(done) = done_rx.recv() => {
                if let Err(e) = backup::finish(&ctx, done) {
                    tracing::warn!(error = %e, "cnpg: recording a backup failed");
                }
            },
            _ = tick.tick() => queue.extend(all_work(&ctx)),
        }
        // Take whatever else arrived meanwhile, then do each piece of work once.
        while let Ok(change) = changes.try_recv() {
            queue.extend(relevant(&change));
        }
        for work in queue {
            if backoff
                .get(&work)
                .is_some_and(|(until, _)| *until > Instant::now())
            {
                continue;
            }
            let result = match &work {
                Work::Cluster(ns, name) => reconcile::reconcile(&ctx, ns, name).await,
                Work::Backup(ns, name) => backup::reconcile(&ctx, ns, name, &done_tx).await,
            };
            match result {
                Ok(()) => {
                    backoff.remove(&work);
                }
                Err(e) => {
                    let n = backoff.get(&work).map_or(0, |(_, n)| n + 1);
                    let wait = Duration::from_millis(500 << n.min(5)).min(MAX_BACKOFF);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cnpg: reconcile failed");
                    backoff.insert(work, (Instant::now() + wait, n));
                }
            }
        }
    }
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

/// Every Cluster, every cluster the world still runs a server for, and every Backup not
/// picked up yet.
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
    work
}
