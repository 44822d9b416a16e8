//! The garbage collector: dependents of a deleted owner are deleted (Background, Foreground) or
//! released (Orphan), and the owner's `foregroundDeletion` / `orphan` finalizer then removed.
use std::collections::HashMap;

use serde_json::{json, Value};

use crate::apiserver::delete::{delete_object, DeleteOptions};
use crate::apiserver::store::{EventType, ResKey};
use crate::apiserver::write::commit;
use crate::apiserver::ApiServer;

fn refs(o: &Value) -> Vec<Value> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn has_finalizer(o: &Value, f: &str) -> bool {
    o.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|x| x == f))
}

fn key_of(o: &Value) -> (String, String) {
    let s = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// One pass; returns whether anything changed.
pub fn reconcile(api: &ApiServer) -> bool {
    let mut txn = api.store.lock();
    let all = txn.all();
    let owners: HashMap<String, (ResKey, Value)> = all
        .iter()
        .filter_map(|(r, o)| {
            o.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(|u| (u.to_string(), (r.clone(), o.clone())))
        })
        .collect();
    let mut changed = false;
    let mut referenced: HashMap<String, usize> = HashMap::new();
    for (res, obj) in &all {
        let list = refs(obj);
        if list.is_empty() {
            continue;
        }
        let mut keep = vec![];
        let mut delete = false;
        let mut released = false;
        for r in &list {
            let uid = r["uid"].as_str().unwrap_or_default();
            match owners.get(uid) {
                None => {}
                Some((_, owner))
                    if owner.pointer("/metadata/deletionTimestamp").is_some()
                        && has_finalizer(owner, "orphan") =>
                {
                    released = true
                }
                Some((_, owner))
                    if owner.pointer("/metadata/deletionTimestamp").is_some()
                        && has_finalizer(owner, "foregroundDeletion") =>
                {
                    delete = true;
                    keep.push(r.clone());
                    *referenced.entry(uid.to_string()).or_default() += 1;
                }
                Some(_) => {
                    keep.push(r.clone());
                    *referenced.entry(uid.to_string()).or_default() += 1;
                }
            }
        }
        let Some(rt) = api
            .registry
            .types
            .iter()
            .find(|t| t.group == res.group && t.plural == res.plural)
        else {
            continue;
        };
        if (keep.is_empty() && !released) || delete {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                let opts = DeleteOptions {
                    propagation: Some("Background".into()),
                    ..Default::default()
                };
                changed |= delete_object(&mut txn, rt, &key_of(obj), &opts).is_ok();
            }
        } else if keep.len() != list.len() {
            let mut o = obj.clone();
            o["metadata"]["ownerReferences"] = json!(keep);
            txn.put(res, key_of(obj), o, EventType::Modified);
            changed = true;
        }
    }
    for (uid, (res, owner)) in &owners {
        if owner.pointer("/metadata/deletionTimestamp").is_none() || referenced.contains_key(uid) {
            continue;
        }
        let Some(owner) = txn.get(res, &key_of(owner)).cloned() else {
            continue;
        };
        for f in ["orphan", "foregroundDeletion"] {
            if has_finalizer(&owner, f) {
                let mut o = owner.clone();
                let rest: Vec<Value> = refs_finalizers(&o).into_iter().filter(|x| x != f).collect();
                o["metadata"]["finalizers"] = json!(rest);
                commit(&mut txn, res, key_of(&owner), o, false, false);
                changed = true;
                break;
            }
        }
    }
    changed
}

fn refs_finalizers(o: &Value) -> Vec<Value> {
    o.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}
