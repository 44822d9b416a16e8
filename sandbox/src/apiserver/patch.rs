//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch
//! for built-in types (lists merged by their patch merge key, directives honoured).
use serde_json::{Map, Value};

use super::status::ApiError;

/// The patch types kube-apiserver accepts, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Applies a JSON patch document to `target`.
pub fn json_patch(target: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut out = target.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("the server rejected our request due to an error in our request: {e}"),
        details: None,
    })?;
    Ok(out)
}

/// Applies a JSON merge patch to `target`.
pub fn merge_patch(target: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "error decoding patch: a merge patch must be a JSON object",
        ));
    }
    let mut out = target.clone();
    json_patch::merge(&mut out, &patch);
    Ok(out)
}

/// The patch merge key of well-known list fields of built-in types (`patchMergeKey` in k8s).
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => "containerPort",
        _ => return None,
    })
}

/// Primitive lists merged as sets (`patchStrategy: merge` without a key).
fn merges_as_set(field: &str) -> bool {
    field == "finalizers"
}

/// Applies a strategic merge patch for a built-in type.
pub fn strategic_patch(target: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let Value::Object(p) = patch else {
        return Err(ApiError::bad_request(
            "error decoding patch: a strategic merge patch must be a JSON object",
        ));
    };
    Ok(merge_map(
        target.as_object().cloned().unwrap_or_default(),
        p,
    ))
}

fn merge_map(mut base: Map<String, Value>, patch: Map<String, Value>) -> Value {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch;
        p.remove("$patch");
        return Value::Object(p);
    }
    for (k, v) in patch {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (base.get_mut(field), &v) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        match v {
            Value::Null => {
                base.remove(&k);
            }
            Value::Object(pm) if pm.get("$patch").and_then(Value::as_str) == Some("delete") => {
                base.remove(&k);
            }
            Value::Object(pm) => {
                let cur = match base.remove(&k) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                base.insert(k, merge_map(cur, pm));
            }
            Value::Array(items) => {
                let merged = match (base.remove(&k), merge_key(&k)) {
                    (Some(Value::Array(cur)), Some(key)) => merge_keyed_list(cur, items, key),
                    (Some(Value::Array(mut cur)), None) if merges_as_set(&k) => {
                        for i in items {
                            if !cur.contains(&i) {
                                cur.push(i);
                            }
                        }
                        cur
                    }
                    _ => items.into_iter().filter(|i| !is_directive(i)).collect(),
                };
                base.insert(k, Value::Array(merged));
            }
            other => {
                base.insert(k, other);
            }
        }
    }
    Value::Object(base)
}

fn is_directive(v: &Value) -> bool {
    v.get("$patch").is_some()
}

fn merge_keyed_list(mut cur: Vec<Value>, items: Vec<Value>, key: &str) -> Vec<Value> {
    for item in items {
        let Some(id) = item.get(key).cloned() else {
            cur.push(item);
            continue;
        };
        let pos = cur.iter().position(|c| c.get(key) == Some(&id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                cur.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                let base = cur[i].as_object().cloned().unwrap_or_default();
                cur[i] = merge_map(base, item.as_object().cloned().unwrap_or_default());
            }
            (None, false) => cur.push(item),
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name_and_env_by_name() {
        let live = json!({"spec": {"containers": [
            {"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "b", "image": "y:1"}]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "image": "x:2", "env": [{"name": "B", "value": "2"}]}],
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]}});
        let out = strategic_patch(&live, patch.to_string().as_bytes()).unwrap();
        assert_eq!(out["spec"]["containers"][0]["image"], "x:2");
        assert_eq!(
            out["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(out["spec"]["containers"][1]["name"], "b");
        assert!(out["spec"].get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn strategic_delete_directives() {
        let live = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"volumes": [{"name": "v1"}, {"name": "v2"}]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"volumes": [{"name": "v1", "$patch": "delete"}]}});
        let out = strategic_patch(&live, patch.to_string().as_bytes()).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(out["spec"]["volumes"], json!([{"name": "v2"}]));
    }

    #[test]
    fn merge_patch_removes_nulls_and_replaces_lists() {
        let live = json!({"data": {"a": "1", "b": "2"}, "list": [1, 2]});
        let out = merge_patch(&live, br#"{"data": {"a": null, "c": "3"}, "list": [3]}"#).unwrap();
        assert_eq!(out, json!({"data": {"b": "2", "c": "3"}, "list": [3]}));
        assert_eq!(merge_patch(&live, b"[1]").unwrap_err().code, 400);
    }

    #[test]
    fn json_patch_errors_are_422_and_decode_errors_400() {
        let live = json!({"data": {"a": "1"}});
        let out = json_patch(
            &live,
            br#"[{"op": "replace", "path": "/data/a", "value": "2"}]"#,
        )
        .unwrap();
        assert_eq!(out["data"]["a"], "2");
        assert_eq!(
            json_patch(
                &live,
                br#"[{"op": "test", "path": "/data/a", "value": "9"}]"#
            )
            .unwrap_err()
            .code,
            422
        );
        assert_eq!(json_patch(&live, b"{").unwrap_err().code, 400);
    }
}
