//! The object store: every object by resource and key, one monotonic resourceVersion, and the
//! event history that watches replay from.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

/// A resource: API group and plural name (versions share storage).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResKey {
    pub group: String,
    pub plural: String,
}

impl ResKey {
    pub fn new(group: &str, plural: &str) -> Self {
        ResKey {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }
}

/// An object's key within its resource: namespace ("" when cluster-scoped) and name.
pub type ObjKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub res: ResKey,
    pub kind: EventType,
    pub object: Value,
    /// The object before a modification (watches with selectors turn a change that moves an
    /// object out of, or into, their selection into DELETED or ADDED).
    pub previous: Option<Value>,
}

/// How many changes are kept for watches to resume from before they get 410 Gone.
const HISTORY: usize = 20_000;

/// The kept changes after a resourceVersion, and the live feed that follows them.
pub type Replay = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

pub struct Inner {
    rv: u64,
    objects: HashMap<ResKey, BTreeMap<ObjKey, Value>>,
    history: VecDeque<Arc<Change>>,
    /// Watches from a resourceVersion older than this get 410 Gone.
    compacted: u64,
}

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Change>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(8192);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: HashMap::new(),
                history: VecDeque::new(),
                compacted: 0,
            }),
            tx,
        }
    }

    /// Locks the store for a read-modify-write. Never held across an await.
    pub fn lock(&self) -> Txn<'_> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Txn {
            guard,
            tx: &self.tx,
        }
    }

    /// Subscribes to live changes and returns the kept history after `from`, atomically, or
    /// `Err(oldest)` when `from` is older than what is kept.
    pub fn watch_from(&self, from: u64) -> Result<Replay, u64> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if from < g.compacted {
            return Err(g.compacted);
        }
        let backlog = g.history.iter().filter(|c| c.rv > from).cloned().collect();
        Ok((backlog, self.tx.subscribe()))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Forgets the whole watch history, as etcd compaction does: every watch from an older
    /// resourceVersion then gets 410 Gone. Used by tests and fault injection.
    pub fn compact(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.history.clear();
        g.compacted = g.rv;
    }
}

/// A locked view of the store.
pub struct Txn<'a> {
    guard: MutexGuard<'a, Inner>,
    tx: &'a broadcast::Sender<Arc<Change>>,
}

impl Txn<'_> {
    pub fn current_rv(&self) -> u64 {
        self.guard.rv
    }

    pub fn get(&self, res: &ResKey, key: &ObjKey) -> Option<&Value> {
        self.guard.objects.get(res).and_then(|m| m.get(key))
    }

    /// Objects of a resource, in key order, optionally in one namespace.
    pub fn list(&self, res: &ResKey, namespace: Option<&str>) -> Vec<Value> {
        match self.guard.objects.get(res) {
            None => vec![],
            Some(m) => m
                .iter()
                .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// Every resource and object (for controllers such as garbage collection).
    pub fn all(&self) -> Vec<(ResKey, Value)> {
        let mut out = vec![];
        for (res, m) in &self.guard.objects {
            for v in m.values() {
                out.push((res.clone(), v.clone()));
            }
        }
        out
    }

    /// Stores `object` with a fresh resourceVersion and records the change.
    pub fn put(&mut self, res: &ResKey, key: ObjKey, mut object: Value, kind: EventType) -> Value {
        let rv = self.next_rv();
        object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let previous = self
            .guard
            .objects
            .entry(res.clone())
            .or_default()
            .insert(key, object.clone());
        self.record(rv, res, kind, object.clone(), previous);
        object
    }

    /// Removes an object; the DELETED event carries a fresh resourceVersion.
    pub fn remove(&mut self, res: &ResKey, key: &ObjKey) -> Option<Value> {
        let mut object = self.guard.objects.get_mut(res)?.remove(key)?;
        let rv = self.next_rv();
        object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        self.record(rv, res, EventType::Deleted, object.clone(), None);
        Some(object)
    }

    fn next_rv(&mut self) -> u64 {
        self.guard.rv += 1;
        self.guard.rv
    }

    fn record(
        &mut self,
        rv: u64,
        res: &ResKey,
        kind: EventType,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Arc::new(Change {
            rv,
            res: res.clone(),
            kind,
            object,
            previous,
        });
        self.guard.history.push_back(change.clone());
        while self.guard.history.len() > HISTORY {
            if let Some(old) = self.guard.history.pop_front() {
                self.guard.compacted = old.rv;
            }
        }
        let _ = self.tx.send(change);
    }
}
