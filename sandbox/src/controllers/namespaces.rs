//! The namespace controller: a deleted namespace's contents are deleted, then its `kubernetes`
//! finalizer is removed and the namespace goes away.
use serde_json::{json, Value};

use crate::apiserver::delete::{delete_object, DeleteOptions};
use crate::apiserver::store::{EventType, ResKey};
use crate::apiserver::ApiServer;

/// One pass; returns whether anything changed.
pub fn reconcile(api: &ApiServer) -> bool {
    let ns_res = ResKey::new("", "namespaces");
    let mut txn = api.store.lock();
    let terminating: Vec<Value> = txn
        .list(&ns_res, None)
        .into_iter()
        .filter(|n| n.pointer("/metadata/deletionTimestamp").is_some())
        .collect();
    let mut changed = false;
    for ns in terminating {
        let name = ns["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut remaining = 0;
        for rt in api.registry.types.iter().filter(|t| t.namespaced) {
            let res = ResKey::new(&rt.group, &rt.plural);
            for obj in txn.list(&res, Some(&name)) {
                remaining += 1;
                if obj.pointer("/metadata/deletionTimestamp").is_none() {
                    let key = (
                        name.clone(),
                        obj["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    );
                    let opts = DeleteOptions {
                        propagation: Some("Background".into()),
                        ..Default::default()
                    };
                    changed |= delete_object(&mut txn, rt, &key, &opts).is_ok();
                }
            }
        }
        if remaining > 0 {
            continue;
        }
        let mut obj = ns.clone();
        if obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
        {
            obj["spec"]["finalizers"] = json!([]);
        }
        let key = (String::new(), name);
        if obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty())
        {
            txn.remove(&ns_res, &key);
            changed = true;
        } else if obj != ns {
            txn.put(&ns_res, key, obj, EventType::Modified);
            changed = true;
        }
    }
    changed
}
