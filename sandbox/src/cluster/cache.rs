//! What an informer keeps: every object of one type, filled and kept current by a kube-runtime
//! watcher (re-listing after 410 Gone or a dropped watch), plus the objects the world's own
//! writes returned, so a controller reads its own writes at once.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::resources::ResourceType;
use super::{Change, EventType, ResKey};

/// (namespace, name)
type Key = (String, String);

pub struct Cache {
    pub res: ResKey,
    t: ResourceType,
    objects: Mutex<BTreeMap<Key, Value>>,
    synced: watch::Sender<bool>,
}

fn key(obj: &Value) -> Key {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_string(),
        m["name"].as_str().unwrap_or_default().to_string(),
    )
}

fn rv(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/resourceVersion")?
        .as_str()?
        .parse()
        .ok()
}

impl Cache {
    pub fn new(res: ResKey, t: ResourceType) -> Arc<Cache> {
        Arc::new(Cache {
            res,
            t,
            objects: Mutex::default(),
            synced: watch::channel(false).0,
        })
    }

    /// The object with `apiVersion` and `kind` filled in (list items come without them).
    fn typed(&self, o: DynamicObject) -> Value {
        let mut v = serde_json::to_value(o).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), self.t.ar.api_version.clone().into());
            m.insert("kind".into(), self.t.ar.kind.clone().into());
        }
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Value>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, ns: &str, name: &str) -> Option<Value> {
        let ns = if self.t.namespaced { ns } else { "" };
        self.lock()
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn list(&self, ns: Option<&str>) -> Vec<Value> {
        self.lock()
            .iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Takes `obj` unless the cache already holds a newer version of it.
    pub fn store(&self, obj: Value) -> bool {
        let mut g = self.lock();
        let k = key(&obj);
        if let (Some(old), Some(new)) = (g.get(&k).and_then(rv), rv(&obj)) {
            if old > new {
                return false;
            }
        }
        g.insert(k, obj);
        true
    }

    pub fn remove(&self, obj: &Value) {
        self.lock().remove(&key(obj));
    }

    /// Waits until the first list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Runs the watcher until the task is aborted, publishing every change.
    pub async fn run(self: Arc<Self>, api: Api<DynamicObject>, tx: broadcast::Sender<Arc<Change>>) {
        let mut stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut relisted: Vec<Key> = vec![];
        while let Some(ev) = stream.next().await {
            let (kind, obj) = match ev {
                Ok(Event::Init) => {
                    relisted.clear();
                    continue;
                }
                Ok(Event::InitApply(o)) => {
                    let v = self.typed(o);
                    relisted.push(key(&v));
                    (EventType::Added, v)
                }
                Ok(Event::InitDone) => {
                    // Objects deleted while the watch was down are gone from the new list.
                    let gone: Vec<Value> = {
                        let mut g = self.lock();
                        let stale: Vec<Key> = g
                            .keys()
                            .filter(|k| !relisted.contains(k))
                            .cloned()
                            .collect();
                        stale.iter().filter_map(|k| g.remove(k)).collect()
                    };
                    for o in gone {
                        let _ = tx.send(Arc::new(Change {
                            res: self.res.clone(),
                            kind: EventType::Deleted,
                            object: o,
                        }));
                    }
                    self.synced.send_replace(true);
                    continue;
                }
                Ok(Event::Apply(o)) => (EventType::Modified, self.typed(o)),
                Ok(Event::Delete(o)) => (EventType::Deleted, self.typed(o)),
                Err(e) => {
                    tracing::debug!(res = ?self.res, "watch error: {e}");
                    continue;
                }
            };
            if kind == EventType::Deleted {
                self.remove(&obj);
            } else if !self.store(obj.clone()) {
                continue;
            }
            let _ = tx.send(Arc::new(Change {
                res: self.res.clone(),
                kind,
                object: obj,
            }));
        }
    }
}
