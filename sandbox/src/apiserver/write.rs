//! Create, replace and patch (including server-side apply) of objects and their `/status`.
use serde_json::{json, Value};

use super::admission::admit;
use super::managed::Writer;
use super::meta::{now, prepare_create, prepare_update, random_suffix, status_only};
use super::patch::{json_patch, merge_patch, strategic_patch, PatchType};
use super::registry::ResourceType;
use super::request::{Query, Target};
use super::status::ApiError;
use super::store::{EventType, ObjKey, ResKey, Txn};
use super::{ApiServer, Reply};

/// Parses a request body (JSON, or YAML for apply patches) into an object with metadata.
pub fn parse_body(body: &[u8], yaml: bool) -> Result<Value, ApiError> {
    let v: Value = if yaml {
        let text =
            std::str::from_utf8(body).map_err(|_| ApiError::bad_request("body is not UTF-8"))?;
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    if !v.is_object() || !v.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::bad_request(
            "the body must be a JSON object with an object `metadata`",
        ));
    }
    Ok(v)
}

fn check_kind(rt: &ResourceType, obj: &mut Value, scale: bool) -> Result<(), ApiError> {
    let (want_av, want_kind) = if scale {
        ("autoscaling/v1".to_string(), "Scale".to_string())
    } else {
        (rt.api_version(), rt.kind.clone())
    };
    let av = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    if !av.is_empty() && av != want_av {
        return Err(ApiError::bad_request(format!("the API version in the data ({av}) does not match the expected API version ({want_av})")));
    }
    if !kind.is_empty() && kind != want_kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({want_kind})"
        )));
    }
    obj["apiVersion"] = json!(want_av);
    obj["kind"] = json!(want_kind);
    Ok(())
}

fn check_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    let body_ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(String::from);
    match (t.rt.namespaced, &t.namespace, body_ns) {
        (true, Some(url), Some(b)) if *url != b && !b.is_empty() => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (true, Some(url), _) => {
            obj["metadata"]["namespace"] = json!(url);
            Ok(())
        }
        (true, None, _) => Err(ApiError::not_found_path()),
        (false, _, _) => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            Ok(())
        }
    }
}

/// The namespace must exist and not be terminating for anything to be created in it.
fn namespace_open(txn: &Txn, ns: &str) -> Result<(), ApiError> {
    match txn.get(
        &ResKey::new("", "namespaces"),
        &(String::new(), ns.to_string()),
    ) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
            Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )))
        }
        Some(_) => Ok(()),
    }
}

pub fn key_of(t: &Target, name: &str) -> ObjKey {
    (t.namespace.clone().unwrap_or_default(), name.to_string())
}

/// Stores `new` (or, when its deletion has no finalizers left, removes it) unless dry-run.
pub fn commit(
    txn: &mut Txn,
    res: &ResKey,
    key: ObjKey,
    new: Value,
    created: bool,
    dry: bool,
) -> Value {
    let finished = new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
    if dry {
        return new;
    }
    if finished {
        let _ = txn.put(res, key.clone(), new, EventType::Modified);
        return txn.remove(res, &key).unwrap_or(Value::Null);
    }
    txn.put(
        res,
        key,
        new,
        if created {
            EventType::Added
        } else {
            EventType::Modified
        },
    )
}

pub fn create(
    api: &ApiServer,
    t: &Target,
    q: &Query,
    body: &[u8],
    manager: &str,
) -> Result<Reply, ApiError> {
    if t.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "POST is not allowed on a named object",
        ));
    }
    let mut obj = parse_body(body, false)?;
    check_kind(t.rt, &mut obj, false)?;
    check_namespace(t, &mut obj)?;
    if obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        match obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        {
            Some(prefix) if !prefix.is_empty() => {
                obj["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix()))
            }
            _ => {
                let cause = super::status::Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                };
                return Err(ApiError::invalid(&t.rt.group, &t.rt.kind, "", vec![cause]));
            }
        }
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let res = ResKey::new(&t.rt.group, &t.rt.plural);
    let key = key_of(t, &name);
    let mut txn = api.store.lock();
    if let Some(ns) = &t.namespace {
        namespace_open(&txn, ns)?;
    }
    // Admission first (schema, then the webhooks' rules), as kube-apiserver validates before
    // its storage layer answers AlreadyExists: an invalid object is 422 even if its name is
    // taken, so a `dryRun=All` create validates a manifest whose name exists.
    drop_status(t.rt, &mut obj);
    let admitted = admit(t.rt, obj, q.field_validation)?;
    if txn.get(&res, &key).is_some() {
        return Err(ApiError::already_exists(&t.rt.group, &t.rt.plural, &name));
    }
    let mut obj = admitted.object;
    prepare_create(t.rt, &mut obj);
    writer(t, manager, false).record_update(None, &mut obj);
    let out = commit(&mut txn, &res, key, obj, true, q.dry_run);
    Ok(Reply {
        code: 201,
        body: out,
        warnings: admitted.warnings,
    })
}

fn writer(t: &Target, manager: &str, status: bool) -> Writer {
    Writer {
        manager: manager.to_string(),
        api_version: t.rt.api_version(),
        time: now(),
        status,
    }
}

/// PUT of the main resource or `/status`.
pub fn replace(
    api: &ApiServer,
    t: &Target,
    q: &Query,
    body: &[u8],
    manager: &str,
) -> Result<Reply, ApiError> {
    let name = t
        .name
        .clone()
        .ok_or_else(|| ApiError::method_not_allowed("PUT is not allowed on a collection"))?;
    let mut obj = parse_body(body, false)?;
    check_kind(t.rt, &mut obj, false)?;
    check_namespace(t, &mut obj)?;
    let body_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let res = ResKey::new(&t.rt.group, &t.rt.plural);
    let key = key_of(t, &name);
    let mut txn = api.store.lock();
    let cur = txn
        .get(&res, &key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.plural, &name))?;
    let sent_rv = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !sent_rv.is_empty()
        && Some(sent_rv)
            != cur
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::conflict(&t.rt.group, &t.rt.plural, &name, "the object has been modified; please apply your changes to the latest version and try again"));
    }
    finish_update(&mut txn, t, q, &res, key, &cur, obj, manager)
}

/// The shared end of every update: status rules, admission, ownership, no-op detection, commit.
#[allow(clippy::too_many_arguments)]
fn finish_update(
    txn: &mut Txn,
    t: &Target,
    q: &Query,
    res: &ResKey,
    key: ObjKey,
    cur: &Value,
    new: Value,
    manager: &str,
) -> Result<Reply, ApiError> {
    let status = t.sub.as_deref() == Some("status");
    let mut new = if status { status_only(cur, &new) } else { new };
    if !status {
        if let Some(mf) = cur.pointer("/metadata/managedFields") {
            if new.pointer("/metadata/managedFields").is_none() {
                new["metadata"]["managedFields"] = mf.clone();
            }
        }
        prepare_update(t.rt, cur, &mut new)?;
    }
    let admitted = admit(t.rt, new, q.field_validation)?;
    let mut new = admitted.object;
    new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
    if without_managed(&new) == without_managed(cur) {
        return Ok(Reply {
            code: 200,
            body: cur.clone(),
            warnings: admitted.warnings,
        });
    }
    writer(t, manager, status).record_update(Some(cur), &mut new);
    let out = commit(txn, res, key, new, false, q.dry_run);
    Ok(Reply {
        code: 200,
        body: out,
        warnings: admitted.warnings,
    })
}

fn without_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    v
}

/// PATCH of the main resource or `/status`, by patch type; apply may create.
pub fn patch(
    api: &ApiServer,
    t: &Target,
    q: &Query,
    body: &[u8],
    content_type: &str,
    manager: Option<&str>,
) -> Result<Reply, ApiError> {
    let name = t
        .name
        .clone()
        .ok_or_else(|| ApiError::method_not_allowed("PATCH is not allowed on a collection"))?;
    let pt = PatchType::from_content_type(content_type).ok_or_else(|| ApiError::unsupported_media_type(format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {content_type:?}")))?;
    if pt == PatchType::Strategic && t.rt.is_custom() {
        return Err(ApiError::unsupported_media_type("strategic merge patch is not supported for custom resources; use a JSON merge patch or server-side apply"));
    }
    let res = ResKey::new(&t.rt.group, &t.rt.plural);
    let key = key_of(t, &name);
    let mut txn = api.store.lock();
    let cur = txn.get(&res, &key).cloned();
    if pt == PatchType::Apply {
        let manager = manager
            .ok_or_else(|| ApiError::bad_request("PATCH /apply requires fieldManager to be set"))?;
        return apply(&mut txn, t, q, &res, key, cur, body, manager);
    }
    let cur = cur.ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.plural, &name))?;
    let mut new = match pt {
        PatchType::Json => json_patch(&cur, body)?,
        PatchType::Merge => merge_patch(&cur, body)?,
        _ => strategic_patch(&cur, body)?,
    };
    if !new.get("metadata").is_some_and(Value::is_object) {
        return Err(ApiError::bad_request("the patch removed metadata"));
    }
    check_kind(t.rt, &mut new, false)?;
    check_namespace(t, &mut new)?;
    if new.pointer("/metadata/name") != cur.pointer("/metadata/name") {
        return Err(ApiError::bad_request(
            "metadata.name cannot be changed by a patch",
        ));
    }
    let sent_rv = new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !sent_rv.is_empty()
        && Some(sent_rv)
            != cur
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::conflict(&t.rt.group, &t.rt.plural, &name, "the object has been modified; please apply your changes to the latest version and try again"));
    }
    finish_update(
        &mut txn,
        t,
        q,
        &res,
        key,
        &cur,
        new,
        manager.unwrap_or("unknown"),
    )
}

#[allow(clippy::too_many_arguments)]
fn apply(
    txn: &mut Txn,
    t: &Target,
    q: &Query,
    res: &ResKey,
    key: ObjKey,
    cur: Option<Value>,
    body: &[u8],
    manager: &str,
) -> Result<Reply, ApiError> {
    let mut cfg = parse_body(body, true)?;
    check_kind(t.rt, &mut cfg, false)?;
    check_namespace(t, &mut cfg)?;
    let name = key.1.clone();
    if cfg.pointer("/metadata/name").and_then(Value::as_str) != Some(name.as_str()) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            cfg.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
        )));
    }
    let status = t.sub.as_deref() == Some("status");
    let force = q.flag("force");
    let w = writer(t, manager, status);
    let merged = w
        .apply(cur.as_ref(), &cfg, force)
        .map_err(|causes| ApiError::apply_conflict(&t.rt.group, &t.rt.plural, &name, causes))?;
    match cur {
        Some(cur) => {
            let mut new = merged;
            let mf = new["metadata"]["managedFields"].clone();
            if status {
                new = status_only(&cur, &new);
            } else {
                prepare_update(t.rt, &cur, &mut new)?;
            }
            let admitted = admit(t.rt, new, q.field_validation)?;
            let mut new = admitted.object;
            new["metadata"]["managedFields"] = mf;
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
            if new == cur {
                return Ok(Reply {
                    code: 200,
                    body: cur,
                    warnings: admitted.warnings,
                });
            }
            let out = commit(txn, res, key, new, false, q.dry_run);
            Ok(Reply {
                code: 200,
                body: out,
                warnings: admitted.warnings,
            })
        }
        None => {
            if let Some(ns) = &t.namespace {
                namespace_open(txn, ns)?;
            }
            let mut obj = merged;
            let mf = obj["metadata"]["managedFields"].clone();
            drop_status(t.rt, &mut obj);
            let admitted = admit(t.rt, obj, q.field_validation)?;
            let mut obj = admitted.object;
            prepare_create(t.rt, &mut obj);
            obj["metadata"]["managedFields"] = mf;
            let out = commit(txn, res, key, obj, true, q.dry_run);
            Ok(Reply {
                code: 201,
                body: out,
                warnings: admitted.warnings,
            })
        }
    }
}

/// Status is not part of a create when the type has a status subresource (dropped before
/// validation, as kube's PrepareForCreate does).
fn drop_status(rt: &ResourceType, obj: &mut Value) {
    if rt.status_subresource {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
}
