//! WAL archiving and base backups with the real barman-cloud into the S3 server, in-tree and
//! with the plugin form, with the status CNPG writes; and the empty-archive check.
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DynamicObject, GroupVersionKind, PostParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use serde_json::{json, Value};

use crate::harness::*;
use crate::s3::boto3;

pub const MAKE_BUCKET: &str = r#"
import boto3, os
boto3.client("s3", endpoint_url=os.environ["ENDPOINT"]).create_bucket(Bucket="backups")
"#;

pub const LIST_KEYS: &str = r#"
import boto3, os
pages = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"]).get_paginator("list_objects_v2").paginate(Bucket="backups")
print("\n".join(o["Key"] for p in pages for o in p.get("Contents", [])))
"#;

pub fn api(client: &Client, ns: &str, group: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

pub async fn create(client: &Client, ns: &str, group: &str, kind: &str, name: &str, spec: Value) {
    let obj: DynamicObject =
        serde_json::from_value(json!({"apiVersion": format!("{group}/v1"), "kind": kind,
        "metadata": {"name": name, "namespace": ns}, "spec": spec}))
        .expect("object");
    api(client, ns, group, kind)
        .create(&PostParams::default(), &obj)
        .await
        .expect("created");
}

/// Polls an object until `f` holds for it; returns it.
pub async fn wait_for(
    a: &Api<DynamicObject>,
    name: &str,
    secs: u64,
    what: &str,
    f: impl Fn(&Value) -> bool,
) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(o) = a.get_opt(name).await.expect("get") {
            let v = serde_json::to_value(&o).expect("json");
            if f(&v) {
                return v;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "{what}: not within {secs}s; last: {v}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// S3 with a bucket, and a Secret `s3-creds` holding the minted keys.
pub async fn s3_setup(w: &World, ns: &str) -> (String, String, String) {
    let info = w.sandbox.world.s3().await.expect("S3");
    let (id, secret) = (
        info.keys.access_key_id.clone(),
        info.keys.secret_access_key.clone(),
    );
    boto3(&info.endpoint, &id, &secret, MAKE_BUCKET).expect("bucket");
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "s3-creds"},
        "stringData": {"ACCESS_KEY_ID": id, "ACCESS_SECRET_KEY": secret}}))
    .expect("secret");
    Api::<Secret>::namespaced(w.client.clone(), ns)
        .create(&PostParams::default(), &s)
        .await
        .expect("s3-creds");
    (info.endpoint, id, secret)
}

pub fn store_config(endpoint: &str, prefix: &str) -> Value {
    json!({"destinationPath": format!("s3://backups/{prefix}"), "endpointURL": endpoint,
        "s3Credentials": {"accessKeyId": {"name": "s3-creds", "key": "ACCESS_KEY_ID"},
                          "secretAccessKey": {"name": "s3-creds", "key": "ACCESS_SECRET_KEY"}},
        "wal": {"compression": "gzip"}, "data": {"immediateCheckpoint": true}})
}

pub fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[tokio::test(flavor = "multi_thread")]
async fn in_tree_backup_completes_and_lands_in_s3() {
    let w = start().await;
    namespace(&w.client, "databases").await;
    let (endpoint, id, secret) = s3_setup(&w, "databases").await;
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"},
        "backup": {"barmanObjectStore": store_config(&endpoint, "cnpg")}});
    create_cluster(&w.client, "databases", "prod", spec).await;
    let (_, took) = await_healthy(&w.client, "databases", "prod", 60).await;
    eprintln!("archiving cluster healthy after {:.2}s", took.as_secs_f64());
    let clusters = clusters(&w.client, "databases");
    wait_for(&clusters, "prod", 30, "ContinuousArchiving", |c| {
        condition(c, "ContinuousArchiving").is_some_and(|x| x["status"] == "True")
    })
    .await;

    let t0 = Instant::now();
    let b = take_backup(
        &w.client,
        "databases",
        "prod-1",
        json!({"cluster": {"name": "prod"}}),
    )
    .await;
    eprintln!("backup done after {:.2}s", t0.elapsed().as_secs_f64());
    let backup_id = check_in_tree_backup(&b["status"]);
    let keys = boto3(&endpoint, &id, &secret, LIST_KEYS).expect("list");
    let info = format!("cnpg/prod/base/{backup_id}/backup.info");
    assert!(keys.lines().any(|k| k == info), "{keys}");
    let wal = |k: &str| k.starts_with("cnpg/prod/wals/0000000100000000/") && k.ends_with(".gz");
    assert!(
        keys.lines().any(wal),
        "gzip-compressed WAL archived: {keys}"
    );

    let c = wait_for(&clusters, "prod", 10, "LastBackupSucceeded", |c| {
        condition(c, "LastBackupSucceeded").is_some_and(|x| x["status"] == "True")
    })
    .await;
    let st = &c["status"];
    assert!(st["firstRecoverabilityPoint"].is_string(), "{st}");
    assert_eq!(
        st["lastSuccessfulBackup"], st["firstRecoverabilityPoint"],
        "one backup"
    );
    assert_eq!(st["phase"], HEALTHY);
    check_empty_archive_clash(&w, &endpoint).await;
    w.sandbox.stop().await;
}

/// Creates a Backup and waits until it is done.
pub async fn take_backup(client: &Client, ns: &str, name: &str, spec: Value) -> Value {
    create(client, ns, "postgresql.cnpg.io", "Backup", name, spec).await;
    let backups = api(client, ns, "postgresql.cnpg.io", "Backup");
    wait_for(&backups, name, 90, "backup done", |b| {
        ["completed", "failed"].contains(&b["status"]["phase"].as_str().unwrap_or(""))
    })
    .await
}

/// Checks an in-tree Backup's status; returns its backup ID.
fn check_in_tree_backup(st: &Value) -> String {
    assert_eq!(st["phase"], "completed", "{st}");
    let backup_id = st["backupId"].as_str().expect("backupId").to_string();
    assert!(
        backup_id.len() == 15 && backup_id.as_bytes()[8] == b'T',
        "{backup_id}"
    );
    let name = st["backupName"].as_str().unwrap_or_default();
    assert!(name.starts_with("backup-") && name.len() == 21, "{st}");
    assert_eq!(st["method"], "barmanObjectStore");
    assert_eq!(st["destinationPath"], "s3://backups/cnpg");
    assert_eq!(st["serverName"], "prod");
    assert!(
        st["beginWal"].as_str().is_some_and(|w| w.len() == 24),
        "{st}"
    );
    assert!(
        st["startedAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{st}"
    );
    assert_eq!(st["majorVersion"], 15);
    backup_id
}

/// A second cluster archiving into the first one's place fails the empty-archive check and
/// stays in "Setting up primary", as CNPG's does.
async fn check_empty_archive_clash(w: &World, endpoint: &str) {
    let mut cfg = store_config(endpoint, "cnpg");
    cfg["serverName"] = json!("prod");
    let spec =
        json!({"instances": 1, "storage": {"size": "1Gi"}, "backup": {"barmanObjectStore": cfg}});
    create_cluster(&w.client, "databases", "clash", spec).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let clash = clusters(&w.client, "databases")
        .get("clash")
        .await
        .expect("clash");
    assert_eq!(
        clash.data["status"]["phase"], "Setting up primary",
        "stuck on the empty-archive check"
    );
    let app = secret(&w.client, "databases", "clash-app").await;
    assert!(app.is_some(), "credentials come first, as in CNPG");
    let dir = instance_dir(w.dir.path(), "databases", "clash-1");
    assert!(!dir.join("data").exists(), "no initdb ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_backup_records_the_window_on_the_object_store() {
    let w = start().await;
    namespace(&w.client, "databases").await;
    let (endpoint, id, secret) = s3_setup(&w, "databases").await;
    create(
        &w.client,
        "databases",
        "barmancloud.cnpg.io",
        "ObjectStore",
        "store",
        json!({"configuration": store_config(&endpoint, "plug")}),
    )
    .await;
    create_cluster(
        &w.client,
        "databases",
        "web",
        json!({"instances": 1, "storage": {"size": "1Gi"},
        "plugins": [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": true,
                     "parameters": {"barmanObjectName": "store", "serverName": "web-a"}}]}),
    )
    .await;
    await_healthy(&w.client, "databases", "web", 60).await;
    let spec = json!({"cluster": {"name": "web"}, "method": "plugin",
        "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}});
    let b = take_backup(&w.client, "databases", "web-1", spec).await;
    let st = &b["status"];
    assert_eq!(st["phase"], "completed", "{st}");
    assert_eq!(st["method"], "plugin");
    assert!(
        st.get("destinationPath").is_none() && st.get("serverName").is_none(),
        "plugin backups leave these empty: {st}"
    );
    let backup_id = st["backupId"].as_str().expect("backupId");
    let keys = boto3(&endpoint, &id, &secret, LIST_KEYS).expect("list");
    assert!(
        keys.lines()
            .any(|k| k == format!("plug/web-a/base/{backup_id}/backup.info")),
        "{keys}"
    );

    let stores = api(&w.client, "databases", "barmancloud.cnpg.io", "ObjectStore");
    let os = wait_for(&stores, "store", 10, "recovery window", |o| {
        o.pointer("/status/serverRecoveryWindow/web-a").is_some()
    })
    .await;
    assert!(
        os["status"]["serverRecoveryWindow"]["web-a"]["firstRecoverabilityPoint"].is_string(),
        "{}",
        os["status"]
    );
    let c = clusters(&w.client, "databases")
        .get("web")
        .await
        .expect("cluster");
    assert!(
        c.data["status"].get("firstRecoverabilityPoint").is_none(),
        "never set for plugins"
    );
    w.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_a_cluster_without_a_store_fails() {
    let w = start().await;
    namespace(&w.client, "dev").await;
    create_cluster(
        &w.client,
        "dev",
        "plain",
        json!({"instances": 1, "storage": {"size": "1Gi"}}),
    )
    .await;
    await_healthy(&w.client, "dev", "plain", 60).await;
    create(
        &w.client,
        "dev",
        "postgresql.cnpg.io",
        "Backup",
        "b",
        json!({"cluster": {"name": "plain"}}),
    )
    .await;
    let backups = api(&w.client, "dev", "postgresql.cnpg.io", "Backup");
    let b = wait_for(&backups, "b", 20, "backup failed", |b| {
        b["status"]["phase"] == "failed"
    })
    .await;
    assert!(
        b["status"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no backup section")),
        "{}",
        b["status"]
    );
    w.sandbox.stop().await;
}
