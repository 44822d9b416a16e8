//! OpenAPI v3 as kubectl reads it: a root listing one document per group/version, and in each
//! the paths (with their `x-kubernetes-group-version-kind` and query parameters, which kubectl
//! checks to use server-side field validation) and the custom resources' schemas.
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::registry::{Registry, ResourceType};
use super::status::ApiError;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `io.cnpg.postgresql.v1.Cluster` style names (reversed group), `io.k8s.api.core.v1.Pod` for core.
fn schema_name(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "core".to_string()
    } else {
        rt.group.clone()
    };
    let rev: Vec<&str> = group.split('.').rev().collect();
    if rt.is_custom() {
        format!("{}.{}.{}", rev.join("."), rt.version, rt.kind)
    } else {
        format!(
            "io.k8s.api.{}.{}.{}",
            group.split('.').next().unwrap_or(""),
            rt.version,
            rt.kind
        )
    }
}

fn params() -> Value {
    let p = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    json!([
        p("dryRun"),
        p("fieldManager"),
        p("fieldValidation"),
        p("pretty")
    ])
}

fn operations(rt: &ResourceType) -> Value {
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(rt))});
    let body = json!({"content": {"application/json": {"schema": reference}}});
    let op = |verb: &str| json!({"operationId": format!("{verb}{}", rt.kind), "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk, "parameters": params(), "requestBody": body, "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}});
    json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")})
}

fn document(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = reg
        .types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in types {
        let base = format!("/{}", gv_path(group, version));
        let item = if rt.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{base}/{}/{{name}}", rt.plural)
        };
        paths.insert(item, operations(rt));
        let gvk = json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]);
        let mut schema = match rt.crd {
            Some(crd) => crd.schema.openapi_v3().clone(),
            None => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        };
        schema["x-kubernetes-group-version-kind"] = gvk;
        schemas.insert(schema_name(rt), schema);
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths, "components": {"schemas": schemas}}),
    )
}

/// GET `/openapi/v3[/api/v1 | /apis/G/V]` (and `/openapi/v2`, which the sandbox does not serve).
pub fn serve(reg: &Registry, rest: &[&str]) -> Result<Response, ApiError> {
    let json =
        |v: Value| Ok(([("content-type", "application/json")], v.to_string()).into_response());
    match rest {
        ["v3"] => {
            let mut paths = Map::new();
            for (g, v) in reg.groups() {
                let p = gv_path(&g, &v);
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=sandbox")}),
                );
            }
            json(json!({"paths": paths}))
        }
        ["v3", "api", v] => json(document(reg, "", v).ok_or_else(ApiError::not_found_path)?),
        ["v3", "apis", g, v] => json(document(reg, g, v).ok_or_else(ApiError::not_found_path)?),
        _ => Err(ApiError::not_found_path()),
    }
}
