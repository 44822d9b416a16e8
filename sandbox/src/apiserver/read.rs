//! GET of one object and LIST of a collection (selectors, limit/continue), as JSON or as a
//! `meta.k8s.io/v1` Table for kubectl.
use base64::Engine;
use serde_json::{json, Value};

use super::request::{Query, Target};
use super::status::ApiError;
use super::store::ResKey;
use super::{table, ApiServer, Reply};

pub fn get(api: &ApiServer, t: &Target, q: &Query, as_table: bool) -> Result<Reply, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let txn = api.store.lock();
    let obj = txn
        .get(
            &ResKey::new(&t.rt.group, &t.rt.plural),
            &super::write::key_of(t, &name),
        )
        .cloned();
    drop(txn);
    let obj = obj.ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.plural, &name))?;
    let body = if as_table {
        table::table(
            t.rt,
            std::slice::from_ref(&obj),
            &obj["metadata"]["resourceVersion"],
            q,
        )
    } else {
        obj
    };
    Ok(Reply::ok(body))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    rv: String,
    after: (String, String),
}

/// Objects of the collection the target names, after selectors, in key order.
pub fn select(api: &ApiServer, t: &Target, q: &Query) -> Result<(Vec<Value>, u64), ApiError> {
    let fields = q.field(t.rt)?;
    let txn = api.store.lock();
    let items = txn.list(
        &ResKey::new(&t.rt.group, &t.rt.plural),
        t.namespace.as_deref(),
    );
    let rv = txn.current_rv();
    drop(txn);
    let items = items
        .into_iter()
        .filter(|o| q.label.matches(o.pointer("/metadata/labels")) && fields.matches(o))
        .collect();
    Ok((items, rv))
}

pub fn list(api: &ApiServer, t: &Target, q: &Query, as_table: bool) -> Result<Reply, ApiError> {
    let (mut items, rv) = select(api, t, q)?;
    let mut list_rv = rv.to_string();
    if let Some(token) = q.get("continue") {
        let c: Continue = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
        items.retain(|o| key(o) > c.after);
        list_rv = c.rv;
    }
    let mut meta = json!({"resourceVersion": list_rv});
    if let Some(limit) = q.number("limit")?.filter(|l| *l > 0) {
        let limit = limit as usize;
        if items.len() > limit {
            let remaining = items.len() - limit;
            items.truncate(limit);
            let c = Continue {
                rv: list_rv.clone(),
                after: key(&items[limit - 1]),
            };
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&c).unwrap_or_default());
            meta["continue"] = json!(token);
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    if as_table {
        return Ok(Reply::ok(table::table(t.rt, &items, &json!(list_rv), q)));
    }
    Ok(Reply::ok(
        json!({"kind": t.rt.list_kind(), "apiVersion": t.rt.api_version(), "metadata": meta, "items": items}),
    ))
}

fn key(o: &Value) -> (String, String) {
    let s = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}
