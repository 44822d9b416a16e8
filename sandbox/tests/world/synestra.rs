//! The whole synestra scenario (seed 000's layout) comes up: both clusters healthy with their
//! postInitApplicationSQL data, the dev Application's last sync Failed on the `web-migrate` hook (the failed
//! Job present), the prod Application Synced/Healthy, and prod with a completed backup in S3;
//! then dev recreated from that backup with `bootstrap.recovery`.
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, DynamicObject, GroupVersionKind};
use kube::core::ApiResource;
use kube::Api;
use serde_json::{json, Value};

use crate::backup::api;
use crate::harness::*;
use crate::s3::boto3;

const PASSWORD: &str = "sandbox-initdb-Pa55";

const READ_INFO: &str = r#"
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
key = os.environ["KEY"]
print(s3.get_object(Bucket="synestra-io-backups", Key=key)["Body"].read().decode())
"#;

async fn application(w: &World, name: &str) -> Value {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    let apps: Api<DynamicObject> =
        Api::namespaced_with(w.client.clone(), "argocd", &ApiResource::from_gvk(&gvk));
    serde_json::to_value(apps.get(name).await.expect("application")).expect("json")
}

async fn sql(w: &World, cluster: &str, query: &str) -> String {
    let addr = service_address(&w.client, "databases", &format!("{cluster}-rw")).await;
    psql(&addr, "synestra_io", PASSWORD, "synestra_io", query).expect("psql")
}

#[tokio::test(flavor = "multi_thread")]
async fn synestra_scenario_comes_up_with_backups() {
    let w = start().await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/synestra.yaml");
    let objects = cnpgops_sandbox::scenario::load(std::path::Path::new(path)).expect("loads");
    let took = cnpgops_sandbox::scenario::up(
        &w.sandbox.api,
        &w.sandbox.world,
        objects,
        Duration::from_secs(90),
    )
    .await
    .expect("scenario ready");
    eprintln!("synestra scenario ready in {:.1}s", took.as_secs_f64());

    for c in ["synestra-io-cnpg", "synestra-io-dev-cnpg"] {
        await_healthy(&w.client, "databases", c, 5).await;
    }
    assert_eq!(
        sql(&w, "synestra-io-cnpg", "select count(*) from pages").await,
        "500"
    );
    assert_eq!(
        sql(&w, "synestra-io-cnpg", "select count(*) from users").await,
        "50"
    );
    let dev = "select slug from pages";
    assert_eq!(sql(&w, "synestra-io-dev-cnpg", dev).await, "dev-only");

    let dev_app = application(&w, "web-synestra-io-dev").await;
    let op = &dev_app["status"]["operationState"];
    assert_eq!(op["phase"], "Failed", "{op}");
    let hook = op["syncResult"]["resources"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["name"] == "web-migrate"))
        .expect("web-migrate in the sync result");
    assert_eq!(hook["hookPhase"], "Failed", "{hook}");
    let job = Api::<Job>::namespaced(w.client.clone(), "web-synestra-io-dev")
        .get("web-migrate")
        .await
        .expect("the failed hook Job is present");
    let failed = job.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(failed
        .iter()
        .any(|c| c.type_ == "Failed" && c.status == "True"));

    let prod_app = application(&w, "web-synestra-io-prod").await;
    assert_eq!(prod_app["status"]["operationState"]["phase"], "Succeeded");
    assert_eq!(prod_app["status"]["sync"]["status"], "Synced");
    assert_eq!(prod_app["status"]["health"]["status"], "Healthy");

    check_prod_backup(&w).await;
    dev_recreated_from_prod_backup(&w).await;
    w.sandbox.stop().await;
}

/// Seed 000's final refresh mechanism: dev deleted and recreated with `bootstrap.recovery`
/// from prod's archive, keeping its credentials through `recovery.secret`.
async fn dev_recreated_from_prod_backup(w: &World) {
    let api = clusters(&w.client, "databases");
    api.delete("synestra-io-dev-cnpg", &DeleteParams::default())
        .await
        .expect("delete dev");
    let t0 = std::time::Instant::now();
    while api
        .get_opt("synestra-io-dev-cnpg")
        .await
        .expect("get")
        .is_some()
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "dev not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let prod = api.get("synestra-io-cnpg").await.expect("prod");
    let mut store = prod.data["spec"]["backup"]["barmanObjectStore"].clone();
    store["serverName"] = json!("synestra-io-cnpg");
    let spec = json!({"instances": 1, "imageName": "ghcr.io/cloudnative-pg/postgresql:15.10",
        "storage": {"size": "5Gi"},
        "bootstrap": {"recovery": {"source": "prod", "database": "synestra_io",
            "owner": "synestra_io", "secret": {"name": "synestra-io-initdb-secret"}}},
        "externalClusters": [{"name": "prod", "barmanObjectStore": store}]});
    create_cluster(&w.client, "databases", "synestra-io-dev-cnpg", spec).await;
    let (_, took) = await_healthy(&w.client, "databases", "synestra-io-dev-cnpg", 120).await;
    eprintln!(
        "dev recreated from prod's backup in {:.1}s",
        took.as_secs_f64()
    );
    let dev = |q: &'static str| sql(w, "synestra-io-dev-cnpg", q);
    assert_eq!(
        dev("select count(*) from pages").await,
        "500",
        "prod's rows"
    );
    let scratch = "select count(*) from pg_tables where tablename = 'dev_scratch'";
    assert_eq!(dev(scratch).await, "0", "dev-only tables are gone");
}

/// The initial Backup completed and its backup.info (status DONE) is in S3.
async fn check_prod_backup(w: &World) {
    let backups = api(&w.client, "databases", "postgresql.cnpg.io", "Backup");
    let b = serde_json::to_value(
        backups
            .get("synestra-io-cnpg-initial")
            .await
            .expect("backup"),
    )
    .expect("json");
    assert_eq!(b["status"]["phase"], "completed", "{}", b["status"]);
    let id = b["status"]["backupId"].as_str().expect("backupId");
    let info = w.sandbox.world.s3().await.expect("S3");
    let key = format!("cnpg/synestra-io-cnpg/base/{id}/backup.info");
    let script = format!("import os\nos.environ['KEY'] = {key:?}\n{READ_INFO}");
    let text = boto3(
        &info.endpoint,
        &info.keys.access_key_id,
        &info.keys.secret_access_key,
        &script,
    )
    .expect("backup.info readable");
    assert!(text.lines().any(|l| l == "status=DONE"), "{text}");
    let c = clusters(&w.client, "databases")
        .get("synestra-io-cnpg")
        .await
        .expect("prod");
    assert!(c.data["status"]["lastSuccessfulBackup"].is_string());
}
