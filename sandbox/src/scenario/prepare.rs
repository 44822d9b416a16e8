//! What a scenario needs from the world before its objects are applied: the S3 server. Every
//! string `${SANDBOX_S3_ENDPOINT}` becomes its endpoint; a Secret annotated
//! `sandbox.cnpgops.io/s3-credentials` gets the minted keys (`ACCESS_KEY_ID`,
//! `ACCESS_SECRET_KEY`, `ACCESS_REGION`); every bucket an object store's `destinationPath`
//! names is created. The keys go into the Secret only, never into logs.
use std::collections::BTreeSet;

use anyhow::Context;
use serde_json::{json, Value};

use crate::world::s3::{S3Info, REGION};
use crate::world::World;

pub const ENDPOINT_PLACEHOLDER: &str = "${SANDBOX_S3_ENDPOINT}";
pub const CREDENTIALS_ANNOTATION: &str = "sandbox.cnpgops.io/s3-credentials";

fn wants_s3(objects: &[Value]) -> bool {
    objects.iter().any(|o| {
        o.pointer("/metadata/annotations")
            .and_then(|a| a.get(CREDENTIALS_ANNOTATION))
            .is_some()
            || o.to_string().contains(ENDPOINT_PLACEHOLDER)
    })
}

/// Replaces the endpoint placeholder in every string of `v`.
fn substitute(v: &mut Value, endpoint: &str) {
    match v {
        Value::String(s) if s.contains(ENDPOINT_PLACEHOLDER) => {
            *s = s.replace(ENDPOINT_PLACEHOLDER, endpoint);
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, endpoint)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, endpoint)),
        _ => {}
    }
}

/// Every `barmanObjectStore`-shaped config of a Cluster or ObjectStore.
fn store_configs(o: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    match o["kind"].as_str() {
        Some("Cluster") => {
            out.extend(o.pointer("/spec/backup/barmanObjectStore"));
            if let Some(ext) = o
                .pointer("/spec/externalClusters")
                .and_then(Value::as_array)
            {
                out.extend(ext.iter().filter_map(|e| e.get("barmanObjectStore")));
            }
        }
        Some("ObjectStore") => out.extend(o.pointer("/spec/configuration")),
        _ => {}
    }
    out
}

/// The buckets of stores on the sandbox's S3 (no `endpointURL`, or its own).
fn buckets(objects: &[Value], endpoint: &str) -> BTreeSet<String> {
    objects
        .iter()
        .flat_map(store_configs)
        .filter(|c| c["endpointURL"].as_str().is_none_or(|e| e == endpoint))
        .filter_map(|c| c["destinationPath"].as_str()?.strip_prefix("s3://"))
        .filter_map(|rest| rest.split('/').next().filter(|b| !b.is_empty()))
        .map(String::from)
        .collect()
}

fn fill_credentials(o: &mut Value, info: &S3Info) {
    let annotated = o
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(CREDENTIALS_ANNOTATION))
        .is_some();
    if o["kind"] != "Secret" || !annotated {
        return;
    }
    let keys = json!({"ACCESS_KEY_ID": info.keys.access_key_id,
        "ACCESS_SECRET_KEY": info.keys.secret_access_key, "ACCESS_REGION": REGION});
    match o.get_mut("stringData").and_then(Value::as_object_mut) {
        Some(m) => m.extend(keys.as_object().cloned().unwrap_or_default()),
        None => o["stringData"] = keys,
    }
}

/// Starts S3 if the scenario uses it, fills placeholders and credentials, creates buckets.
pub async fn prepare(world: &World, mut objects: Vec<Value>) -> anyhow::Result<Vec<Value>> {
    if !wants_s3(&objects) {
        return Ok(objects);
    }
    let info = world.s3().await.context("failed to start the S3 server")?;
    for o in objects.iter_mut() {
        substitute(o, &info.endpoint);
        fill_credentials(o, &info);
    }
    for bucket in buckets(&objects, &info.endpoint) {
        info.create_bucket(&world.tools, &bucket)
            .await
            .with_context(|| format!("failed to create bucket {bucket}"))?;
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_buckets() {
        let mut c = json!({"kind": "Cluster", "spec": {"backup": {"barmanObjectStore": {
            "destinationPath": "s3://prod-backups/cnpg", "endpointURL": ENDPOINT_PLACEHOLDER}},
            "externalClusters": [{"name": "x", "barmanObjectStore": {"destinationPath": "s3://other"}},
                                 {"name": "y", "barmanObjectStore": {"destinationPath": "s3://far/p",
                                  "endpointURL": "https://s3.example"}}]}});
        assert!(wants_s3(std::slice::from_ref(&c)));
        substitute(&mut c, "http://127.0.0.1:9");
        assert_eq!(
            c.pointer("/spec/backup/barmanObjectStore/endpointURL"),
            Some(&json!("http://127.0.0.1:9"))
        );
        let b: Vec<String> = buckets(&[c], "http://127.0.0.1:9").into_iter().collect();
        assert_eq!(b, ["other", "prod-backups"]);
    }
}
