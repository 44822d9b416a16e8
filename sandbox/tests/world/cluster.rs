//! A Cluster becomes a healthy, reachable PostgreSQL server with CNPG's secrets, services,
//! pods, PVCs and status.
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn cluster_comes_up_healthy_and_its_app_secret_logs_in() {
    let w = start().await;
    namespace(&w.client, "databases").await;
    let spec = json!({"instances": 1, "storage": {"size": "2Gi"},
        "bootstrap": {"initdb": {"database": "shopdb", "owner": "shopper"}}});
    create_cluster(&w.client, "databases", "shop", spec).await;
    let (cluster, took) = await_healthy(&w.client, "databases", "shop", 60).await;
    eprintln!("cluster healthy after {:.2}s", took.as_secs_f64());
    check_status(&cluster.data["status"]);

    let app = secret(&w.client, "databases", "shop-app")
        .await
        .expect("shop-app secret");
    let password = check_app_secret(&app);
    let su = secret(&w.client, "databases", "shop-superuser").await;
    assert!(su.is_none(), "superuser access is off by default");

    let addr = service_address(&w.client, "databases", "shop-rw").await;
    assert!(
        addr.starts_with("10.244.") && addr.ends_with(":5432"),
        "{addr}"
    );
    assert_eq!(
        service_address(&w.client, "databases", "shop-r").await,
        addr
    );
    check_logins(&addr, &password);
    let uid = cluster.metadata.uid.clone().expect("uid");
    check_pod_and_pvc(&w, &addr, &uid).await;

    let text = std::fs::read_to_string(w.dir.path().join("state.json")).expect("state");
    let state: serde_json::Value = serde_json::from_str(&text).expect("state json");
    assert_eq!(state["databases"]["databases/shop-1"], json!(addr));
    assert!(state["api"].is_string(), "the API server's keys are kept");
    w.sandbox.stop().await;
}

fn check_status(st: &serde_json::Value) {
    for (k, v) in [
        ("currentPrimary", "shop-1"),
        ("targetPrimary", "shop-1"),
        ("writeService", "shop-rw"),
        ("readService", "shop-r"),
        (
            "image",
            "ghcr.io/cloudnative-pg/postgresql:15.6-system-bookworm",
        ),
    ] {
        assert_eq!(st[k], v, "status.{k}");
    }
    assert_eq!(
        (st["readyInstances"].as_u64(), st["instances"].as_u64()),
        (Some(1), Some(1))
    );
    let conditions = st["conditions"].as_array().expect("conditions");
    let ready = conditions
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("ClusterIsReady"))
    );
    assert!(
        st["systemID"].as_str().is_some_and(|s| s.len() > 10),
        "real system id: {st}"
    );
}

/// Checks CNPG's keys; returns the password.
fn check_app_secret(app: &Secret) -> String {
    assert_eq!(app.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    for (k, v) in [
        ("username", "shopper"),
        ("dbname", "shopdb"),
        ("host", "shop-rw"),
        ("port", "5432"),
    ] {
        assert_eq!(key(app, k), v, "key {k}");
    }
    let password = key(app, "password");
    assert_eq!(password.len(), 64);
    let uri = format!("postgresql://shopper:{password}@shop-rw.databases:5432/shopdb");
    assert_eq!(key(app, "uri"), uri);
    password
}

fn check_logins(addr: &str, password: &str) {
    let q = |user: &str, pw: &str, sql: &str| psql(addr, user, pw, "shopdb", sql);
    let who = q(
        "shopper",
        password,
        "select current_user || '@' || current_database()",
    );
    assert_eq!(who.as_deref(), Ok("shopper@shopdb"));
    let owner = q(
        "shopper",
        password,
        "select pg_get_userbyid(datdba) from pg_database where datname = current_database()",
    );
    assert_eq!(owner.as_deref(), Ok("shopper"));
    let version = q("shopper", password, "show server_version_num");
    assert!(
        version.as_deref().is_ok_and(|v| v.starts_with("15")),
        "{version:?}"
    );
    assert!(
        q("shopper", "wrong", "select 1").is_err(),
        "a wrong password is refused"
    );
    assert!(
        q("postgres", "", "select 1").is_err(),
        "postgres has no network login"
    );
}

async fn check_pod_and_pvc(w: &World, addr: &str, cluster_uid: &str) {
    let pod = Api::<Pod>::namespaced(w.client.clone(), "databases")
        .get("shop-1")
        .await
        .expect("pod shop-1");
    let labels = pod.metadata.labels.clone().expect("labels");
    for (k, v) in [
        ("cnpg.io/cluster", "shop"),
        ("cnpg.io/instanceName", "shop-1"),
        ("cnpg.io/instanceRole", "primary"),
        ("role", "primary"),
        ("cnpg.io/podRole", "instance"),
    ] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "label {k}");
    }
    let status = pod.status.expect("pod status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.pod_ip.as_deref(), addr.split(':').next());
    assert_eq!(
        pod.metadata.owner_references.expect("owner")[0].uid,
        cluster_uid
    );
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(w.client.clone(), "databases");
    let pvc = pvcs.get("shop-1").await.expect("pvc");
    assert_eq!(pvc.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn initdb_secret_and_superuser_access_are_honoured() {
    let w = start().await;
    namespace(&w.client, "databases").await;
    let initdb: Secret = serde_json::from_value(json!({"metadata": {"name": "site-initdb-secret"},
        "type": "kubernetes.io/basic-auth", "stringData": {"username": "site", "password": "it's a \"secret\""}}))
        .expect("secret");
    Api::<Secret>::namespaced(w.client.clone(), "databases")
        .create(&PostParams::default(), &initdb)
        .await
        .expect("initdb secret");
    create_cluster(&w.client, "databases", "site", json!({"instances": 1, "enableSuperuserAccess": true,
        "storage": {"size": "1Gi"},
        "bootstrap": {"initdb": {"database": "site", "owner": "site", "secret": {"name": "site-initdb-secret"}}}})).await;
    let (_, took) = await_healthy(&w.client, "databases", "site", 60).await;
    eprintln!("cluster healthy after {:.2}s", took.as_secs_f64());

    assert!(
        secret(&w.client, "databases", "site-app").await.is_none(),
        "no -app secret when initdb.secret is given"
    );
    let addr = service_address(&w.client, "databases", "site-rw").await;
    assert_eq!(
        psql(
            &addr,
            "site",
            "it's a \"secret\"",
            "site",
            "select current_user"
        )
        .as_deref(),
        Ok("site")
    );

    let su = secret(&w.client, "databases", "site-superuser")
        .await
        .expect("-superuser secret");
    assert_eq!(key(&su, "username"), "postgres");
    assert_eq!(key(&su, "dbname"), "*");
    let is_super = psql(
        &addr,
        "postgres",
        &key(&su, "password"),
        "postgres",
        "select rolsuper from pg_roles where rolname = current_user",
    );
    assert_eq!(is_super.as_deref(), Ok("t"));
    w.sandbox.stop().await;
}
