//! Subresources: `/scale` (autoscaling/v1 Scale over the replicas path) and `pods/log`.
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::patch::{json_patch, merge_patch, strategic_patch, PatchType};
use super::request::{Query, Target};
use super::status::ApiError;
use super::store::ResKey;
use super::{ApiServer, Reply};

fn pointer(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, s| format!("{acc}/{s}"))
}

fn scale_of(t: &Target, obj: &Value) -> Value {
    let (spec, status, selector) = t.rt.scale.clone().unwrap_or_default();
    let mut st = json!({"replicas": obj.pointer(&pointer(&status)).cloned().unwrap_or(json!(0))});
    if let Some(sel) = selector.and_then(|s| obj.pointer(&pointer(&s)).cloned()) {
        st["selector"] = match sel {
            Value::Object(m) => json!(m
                .get("matchLabels")
                .and_then(Value::as_object)
                .map(|l| l
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default()),
            other => other,
        };
    }
    let m = &obj["metadata"];
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj.pointer(&pointer(&spec)).cloned().unwrap_or(json!(0))}, "status": st})
}

/// GET / PUT / PATCH of `/scale`.
pub fn scale(
    api: &ApiServer,
    t: &Target,
    q: &Query,
    method: &str,
    body: &[u8],
    content_type: &str,
) -> Result<Reply, ApiError> {
    let Some((spec_path, _, _)) = t.rt.scale.clone() else {
        return Err(ApiError::not_found_path());
    };
    let name = t.name.clone().unwrap_or_default();
    let res = ResKey::new(&t.rt.group, &t.rt.plural);
    let cur = api
        .store
        .lock()
        .get(&res, &super::write::key_of(t, &name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.plural, &name))?;
    let current = scale_of(t, &cur);
    let wanted = match method {
        "GET" => return Ok(Reply::ok(current)),
        "PUT" => super::write::parse_body(body, false)?,
        _ => match PatchType::from_content_type(content_type) {
            Some(PatchType::Json) => json_patch(&current, body)?,
            Some(PatchType::Merge) => merge_patch(&current, body)?,
            Some(PatchType::Strategic) => strategic_patch(&current, body)?,
            _ => {
                return Err(ApiError::unsupported_media_type(format!(
                    "unsupported patch type for scale: {content_type}"
                )))
            }
        },
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?;
    if replicas < 0 {
        let c = super::status::Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            field: "spec.replicas".into(),
        };
        return Err(ApiError::invalid("autoscaling", "Scale", &name, vec![c]));
    }
    let patch = spec_path
        .trim_start_matches('.')
        .split('.')
        .rev()
        .fold(json!(replicas), |acc, k| json!({ k: acc }));
    let main = Target {
        rt: t.rt,
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        sub: None,
    };
    let reply = super::write::patch(
        api,
        &main,
        q,
        patch.to_string().as_bytes(),
        "application/merge-patch+json",
        Some("scale"),
    )?;
    Ok(Reply::ok(scale_of(t, &reply.body)))
}

/// GET `pods/NAME/log` (`follow`, `tailLines`, `timestamps` ignored, `container`).
pub async fn log(api: Arc<ApiServer>, t: &Target<'_>, q: &Query) -> Result<Response, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let ns = t.namespace.clone().unwrap_or_default();
    let pod = api
        .store
        .lock()
        .get(&ResKey::new("", "pods"), &(ns.clone(), name.clone()))
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "pods", &name))?;
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    let container = match q.get("container") {
        Some(c) if containers.iter().any(|x| x == c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )))
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )))
        }
    };
    let key = (ns, name, container);
    let tail = q.number("tailLines")?;
    if !q.flag("follow") {
        let text = api.logs.read(&key, tail);
        return Ok(([("content-type", "text/plain")], text).into_response());
    }
    let stream = api.logs.follow(key, tail);
    Ok(([("content-type", "text/plain")], Body::from_stream(stream)).into_response())
}
