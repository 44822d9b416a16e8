//! What the server owns in an object: uid, timestamps, generation, status on create, and the
//! defaults and immutable fields of the built-in types.
use serde_json::{json, Value};

use super::registry::ResourceType;
use super::status::{ApiError, Cause};

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A random suffix for `generateName`, from the alphabet kube uses.
pub fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Everything but metadata and status: what `generation` tracks.
fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    v
}

/// Stamps a new object as the server does on create.
pub fn prepare_create(rt: &ResourceType, obj: &mut Value) {
    let uid = uuid::Uuid::new_v4().to_string();
    let m = &mut obj["metadata"];
    m["uid"] = json!(uid);
    m["creationTimestamp"] = json!(now());
    if let Some(mm) = m.as_object_mut() {
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "selfLink",
        ] {
            mm.remove(k);
        }
        if rt.generation {
            mm.insert("generation".into(), json!(1));
        } else {
            mm.remove("generation");
        }
    }
    if rt.status_subresource {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
    super::defaults::on_create(rt, obj, &uid);
}

/// Carries the server-owned parts of `old` into `new` for an update of the main resource.
pub fn prepare_update(rt: &ResourceType, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if rt.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    super::defaults::on_update(rt, new);
    immutable(rt, old, new)?;
    if rt.generation && spec_part(old) != spec_part(new) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    Ok(())
}

/// Keeps everything of `old` but its status, which comes from `new` (a `/status` write).
pub fn status_only(old: &Value, new: &Value) -> Value {
    let mut out = old.clone();
    match new.get("status") {
        Some(s) => out["status"] = s.clone(),
        None => {
            if let Some(o) = out.as_object_mut() {
                o.remove("status");
            }
        }
    }
    if let Some(mf) = new.pointer("/metadata/managedFields") {
        out["metadata"]["managedFields"] = mf.clone();
    }
    out
}

fn immutable(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ApiError> {
    let fields: &[&str] = match (rt.group.as_str(), rt.plural.as_str()) {
        ("batch", "jobs") => &["/spec/template", "/spec/selector", "/spec/completionMode"],
        ("", "secrets") | ("", "configmaps") if old.get("immutable") == Some(&json!(true)) => {
            &["/data", "/binaryData", "/stringData"]
        }
        ("", "pods") => &["/spec/containers", "/spec/restartPolicy", "/spec/volumes"],
        _ => &[],
    };
    let causes: Vec<Cause> = fields
        .iter()
        .filter(|p| old.pointer(p) != new.pointer(p))
        .map(|p| {
            let field = p.trim_start_matches('/').replace('/', ".");
            Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: field is immutable".into(),
                field,
            }
        })
        .collect();
    if causes.is_empty() {
        return Ok(());
    }
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(&rt.group, &rt.kind, name, causes))
}
