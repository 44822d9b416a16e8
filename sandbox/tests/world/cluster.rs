//! A Cluster becomes a healthy, reachable PostgreSQL server with CNPG's secrets, services,
//! pods, PVCs and status.
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn cluster_comes_up_healthy_and_its_app_secret_logs_in() {
    let w = start().await;
    namespace(&w.client, "databases").await;
    create_cluster(
        &w.client,
        "databases",
        "shop",
        json!({"instances": 1, "storage": {"size": "2Gi"},
        "bootstrap": {"initdb": {"database": "shopdb", "owner": "shopper"}}}),
    )
    .await;
    let (cluster, took) = await_healthy(&w.client, "databases", "shop", 60).await;
    eprintln!("cluster healthy after {:.2}s", took.as_secs_f64());

    let st = &cluster.data["status"];
    assert_eq!(st["readyInstances"], 1);
    assert_eq!(st["instances"], 1);
    assert_eq!(st["currentPrimary"], "shop-1");
    assert_eq!(st["targetPrimary"], "shop-1");
    assert_eq!(st["writeService"], "shop-rw");
    assert_eq!(st["readService"], "shop-r");
    assert_eq!(
        st["image"],
        "ghcr.io/cloudnative-pg/postgresql:15.6-system-bookworm"
    );
    let ready = st["conditions"]
        .as_array()
        .expect("conditions")
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

    let app = secret(&w.client, "databases", "shop-app")
        .await
        .expect("shop-app secret");
    assert_eq!(app.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(key(&app, "username"), "shopper");
    assert_eq!(key(&app, "dbname"), "shopdb");
    assert_eq!(key(&app, "host"), "shop-rw");
    assert_eq!(key(&app, "port"), "5432");
    let password = key(&app, "password");
    assert_eq!(password.len(), 64);
    assert_eq!(
        key(&app, "uri"),
        format!("postgresql://shopper:{password}@shop-rw.databases:5432/shopdb")
    );
    assert!(
        secret(&w.client, "databases", "shop-superuser")
            .await
            .is_none(),
        "superuser access is off by default"
    );

    let addr = service_address(&w.client, "databases", "shop-rw").await;
    assert!(
        addr.starts_with("127.10.") && addr.ends_with(":5432"),
        "{addr}"
    );
    let who = psql(
        &addr,
        "shopper",
        &password,
        "shopdb",
        "select current_user || '@' || current_database()",
    );
    assert_eq!(who.as_deref(), Ok("shopper@shopdb"));
    let owner = psql(
        &addr,
        "shopper",
        &password,
        "shopdb",
        "select pg_get_userbyid(datdba) from pg_database where datname = current_database()",
    );
    assert_eq!(owner.as_deref(), Ok("shopper"));
    assert!(
        psql(&addr, "shopper", "wrong", "shopdb", "select 1").is_err(),
        "a wrong password is refused"
    );
    assert!(
        psql(&addr, "postgres", "", "postgres", "select 1").is_err(),
        "postgres has no network login"
    );
    assert_eq!(
        service_address(&w.client, "databases", "shop-r").await,
        addr
    );
    assert_eq!(
        psql(
            &addr,
            "shopper",
            &password,
            "shopdb",
            "show server_version_num"
        )
        .map(|v| v[..2].to_string())
        .as_deref(),
        Ok("15")
    );

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
    let owner_uid = cluster.metadata.uid.clone().expect("uid");
    assert_eq!(
        pod.metadata.owner_references.expect("owner")[0].uid,
        owner_uid
    );
    let pvc = Api::<PersistentVolumeClaim>::namespaced(w.client.clone(), "databases")
        .get("shop-1")
        .await
        .expect("pvc");
    assert_eq!(pvc.status.and_then(|s| s.phase).as_deref(), Some("Bound"));

    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.dir.path().join("state.json")).expect("state"),
    )
    .expect("state json");
    assert_eq!(state["databases"]["databases/shop-1"], json!(addr));
    assert!(state["api"].is_string(), "the API server's keys are kept");
    w.sandbox.stop().await;
}

#[tokio::test]
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
