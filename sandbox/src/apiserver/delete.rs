//! DELETE: preconditions, propagation policies (Orphan / Background / Foreground), finalizers
//! that hold an object with a deletionTimestamp, and deletecollection.
use serde_json::{json, Value};

use super::meta::now;
use super::registry::ResourceType;
use super::request::{Query, Target};
use super::status::{success_status, ApiError};
use super::store::{EventType, ObjKey, ResKey, Txn};
use super::{ApiServer, Reply};

/// DeleteOptions, from the body and/or the query.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn parse(body: &[u8], q: &Query) -> Result<Self, ApiError> {
        let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
        };
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
        let mut propagation =
            s(b.get("propagationPolicy")).or(q.get("propagationPolicy").map(String::from));
        if propagation.is_none() {
            let orphan = b
                .get("orphanDependents")
                .and_then(Value::as_bool)
                .or(q.get("orphanDependents").map(|v| v == "true"));
            propagation = orphan.map(|o| {
                if o {
                    "Orphan".into()
                } else {
                    "Background".into()
                }
            });
        }
        if let Some(p) = &propagation {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(ApiError::bad_request(format!("propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\"")));
            }
        }
        let dry_body = b
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
        Ok(DeleteOptions {
            propagation,
            uid: s(b.pointer("/preconditions/uid")),
            resource_version: s(b.pointer("/preconditions/resourceVersion")),
            dry_run: q.dry_run || dry_body,
        })
    }
}

/// The policy when none is asked: batch/v1 Jobs and CronJobs orphan, the rest background.
fn default_policy(rt: &ResourceType) -> &'static str {
    if rt.group == "batch" {
        "Orphan"
    } else {
        "Background"
    }
}

/// Deletes one object; returns (object or Status, HTTP code).
pub fn delete_object(
    txn: &mut Txn,
    rt: &ResourceType,
    key: &ObjKey,
    opts: &DeleteOptions,
) -> Result<(Value, u16), ApiError> {
    let res = ResKey::new(&rt.group, &rt.plural);
    let name = key.1.clone();
    let cur = txn
        .get(&res, key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &name))?;
    let uid = cur
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if opts.uid.as_ref().is_some_and(|u| *u != uid) {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            &name,
            &format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {uid}",
                opts.uid.as_deref().unwrap_or_default()
            ),
        ));
    }
    let cur_rv = cur
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if opts.resource_version.as_ref().is_some_and(|r| r != cur_rv) {
        return Err(ApiError::conflict(&rt.group, &rt.plural, &name, &format!("Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {cur_rv}", opts.resource_version.as_deref().unwrap_or_default())));
    }
    let policy = opts
        .propagation
        .clone()
        .unwrap_or_else(|| default_policy(rt).into());
    let mut obj = cur.clone();
    let mut finalizers: Vec<Value> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let gc_finalizer = match policy.as_str() {
        "Foreground" => Some("foregroundDeletion"),
        "Orphan" if has_dependents(txn, &uid) => Some("orphan"),
        _ => None,
    };
    if let Some(f) = gc_finalizer {
        if !finalizers.iter().any(|x| x == f) {
            finalizers.push(json!(f));
        }
    }
    let namespace_held = rt.plural == "namespaces"
        && rt.group.is_empty()
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    if finalizers.is_empty() && !namespace_held {
        if opts.dry_run {
            return Ok((reply_for_deleted(rt, &cur, &uid), 200));
        }
        let gone = txn.remove(&res, key).unwrap_or(cur);
        return Ok((reply_for_deleted(rt, &gone, &uid), 200));
    }
    if obj.pointer("/metadata/deletionTimestamp").is_none() {
        obj["metadata"]["deletionTimestamp"] = json!(now());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if rt.generation {
            let g = obj["metadata"]["generation"].as_i64().unwrap_or(0);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        if namespace_held {
            obj["status"]["phase"] = json!("Terminating");
        }
    }
    obj["metadata"]["finalizers"] = json!(finalizers);
    if obj == cur || opts.dry_run {
        return Ok((obj, 202));
    }
    let out = txn.put(&res, key.clone(), obj, EventType::Modified);
    Ok((out, 202))
}

fn has_dependents(txn: &Txn, uid: &str) -> bool {
    txn.all().iter().any(|(_, o)| {
        o.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
    })
}

/// Custom resources answer with the deleted object, built-ins with a Success Status.
fn reply_for_deleted(rt: &ResourceType, obj: &Value, uid: &str) -> Value {
    if rt.is_custom() {
        obj.clone()
    } else {
        success_status(
            &rt.group,
            &rt.plural,
            obj["metadata"]["name"].as_str().unwrap_or_default(),
            uid,
        )
    }
}

pub fn delete(api: &ApiServer, t: &Target, q: &Query, body: &[u8]) -> Result<Reply, ApiError> {
    let opts = DeleteOptions::parse(body, q)?;
    let Some(name) = &t.name else {
        return delete_collection(api, t, q, &opts);
    };
    let mut txn = api.store.lock();
    let (body, code) = delete_object(&mut txn, t.rt, &super::write::key_of(t, name), &opts)?;
    drop(txn);
    api.kick();
    // kube answers 200 for a pending deletion unless cascading was asked for explicitly.
    let code = if code == 202 && opts.propagation.as_deref() == Some("Foreground") {
        202
    } else {
        200
    };
    Ok(Reply {
        code,
        body,
        warnings: vec![],
    })
}

fn delete_collection(
    api: &ApiServer,
    t: &Target,
    q: &Query,
    opts: &DeleteOptions,
) -> Result<Reply, ApiError> {
    let (items, rv) = super::read::select(api, t, q)?;
    let mut txn = api.store.lock();
    let mut out = vec![];
    for o in items {
        let key = (
            o.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if let Ok((v, _)) = delete_object(&mut txn, t.rt, &key, opts) {
            out.push(if v["kind"] == "Status" { o } else { v });
        }
    }
    drop(txn);
    api.kick();
    Ok(Reply::ok(
        json!({"kind": t.rt.list_kind(), "apiVersion": t.rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": out}),
    ))
}
