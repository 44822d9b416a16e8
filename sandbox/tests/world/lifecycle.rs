//! Servers never outlive their Cluster or their sandbox: deletion, stop and drop.
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::DeleteParams;
use kube::Api;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_cluster_leaves_no_process_and_no_data_dir() {
    let w = start().await;
    namespace(&w.client, "dev").await;
    create_cluster(
        &w.client,
        "dev",
        "web",
        json!({"instances": 1, "storage": {"size": "1Gi"}}),
    )
    .await;
    await_healthy(&w.client, "dev", "web", 60).await;
    let dir = instance_dir(w.dir.path(), "dev", "web-1");
    let pid = postmaster_pid(&dir);
    assert!(alive(pid), "the server runs");

    let t0 = std::time::Instant::now();
    clusters(&w.client, "dev")
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually(30, "server stopped and data dir removed", || {
        !alive(pid) && !dir.exists()
    })
    .await;
    eprintln!("cluster torn down after {:.2}s", t0.elapsed().as_secs_f64());
    let (secrets, services, pods) = (
        Api::<Secret>::namespaced(w.client.clone(), "dev"),
        Api::<Service>::namespaced(w.client.clone(), "dev"),
        Api::<Pod>::namespaced(w.client.clone(), "dev"),
    );
    // The garbage collector removes the owned objects soon after (on its own schedule).
    for _ in 0..300 {
        let gone = secrets.get_opt("web-app").await.expect("get").is_none()
            && services.get_opt("web-rw").await.expect("get").is_none()
            && pods.get_opt("web-1").await.expect("get").is_none();
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        secrets.get_opt("web-app").await.expect("get").is_none(),
        "-app secret garbage-collected"
    );
    assert!(
        services.get_opt("web-rw").await.expect("get").is_none(),
        "-rw service garbage-collected"
    );
    assert!(
        pods.get_opt("web-1").await.expect("get").is_none(),
        "instance pod garbage-collected"
    );
    let state = std::fs::read_to_string(w.dir.path().join("state.json")).expect("state");
    assert!(
        !state.contains("dev/web-1"),
        "address removed from state.json: {state}"
    );
    w.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recreated_cluster_gets_a_fresh_server_and_password() {
    let w = start().await;
    namespace(&w.client, "dev").await;
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"}});
    create_cluster(&w.client, "dev", "re", spec.clone()).await;
    await_healthy(&w.client, "dev", "re", 60).await;
    let first = key(
        &secret(&w.client, "dev", "re-app").await.expect("app"),
        "password",
    );
    let addr = service_address(&w.client, "dev", "re-rw").await;
    psql(&addr, "app", &first, "app", "create table marker(x int)").expect("create table");

    clusters(&w.client, "dev")
        .delete("re", &DeleteParams::default())
        .await
        .expect("delete");
    for _ in 0..300 {
        if secret(&w.client, "dev", "re-app").await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    create_cluster(&w.client, "dev", "re", spec).await;
    await_healthy(&w.client, "dev", "re", 60).await;
    let second = key(
        &secret(&w.client, "dev", "re-app").await.expect("app"),
        "password",
    );
    assert_ne!(
        first, second,
        "a recreated Cluster gets a new random password"
    );
    let addr = service_address(&w.client, "dev", "re-rw").await;
    let tables = psql(
        &addr,
        "app",
        &second,
        "app",
        "select count(*) from pg_tables where tablename = 'marker'",
    );
    assert_eq!(
        tables.as_deref(),
        Ok("0"),
        "the data of the old incarnation is gone"
    );
    w.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_sandbox_stops_its_servers() {
    let w = start().await;
    namespace(&w.client, "dev").await;
    create_cluster(
        &w.client,
        "dev",
        "stopme",
        json!({"instances": 1, "storage": {"size": "1Gi"}}),
    )
    .await;
    await_healthy(&w.client, "dev", "stopme", 60).await;
    let pid = postmaster_pid(&instance_dir(w.dir.path(), "dev", "stopme-1"));
    assert!(alive(pid));
    w.sandbox.stop().await;
    assert!(!alive(pid), "stop() waited for the server to stop");
}

/// A sandbox dropped without `stop()` (a panicking test) still leaves no server behind.
#[test]
fn dropping_the_sandbox_stops_its_servers() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (pid, _dir) = rt.block_on(async {
        let w = start().await;
        namespace(&w.client, "dev").await;
        create_cluster(
            &w.client,
            "dev",
            "dropme",
            json!({"instances": 1, "storage": {"size": "1Gi"}}),
        )
        .await;
        await_healthy(&w.client, "dev", "dropme", 60).await;
        let pid = postmaster_pid(&instance_dir(w.dir.path(), "dev", "dropme-1"));
        (pid, w.dir)
    });
    assert!(
        alive(pid),
        "still running while the runtime holds the world"
    );
    drop(rt);
    // The postmaster exits right after the immediate shutdown the drop sends: allow it a moment.
    let t0 = std::time::Instant::now();
    while alive(pid) && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!alive(pid), "the world's drop stopped the server");
}

/// A test that drops its temp dir before the sandbox (field order, a panic) deletes the data
/// dir under a running server: stopping still finds the server, by pid.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_whose_data_dir_vanished_is_still_stopped() {
    let w = start().await;
    namespace(&w.client, "dev").await;
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"}});
    create_cluster(&w.client, "dev", "gone", spec).await;
    await_healthy(&w.client, "dev", "gone", 60).await;
    let dir = instance_dir(w.dir.path(), "dev", "gone-1");
    let pid = postmaster_pid(&dir);
    std::fs::remove_dir_all(w.dir.path().join("pg")).expect("remove the data dirs");
    assert!(alive(pid), "postgres keeps running without its data dir");
    w.sandbox.stop().await;
    eventually(10, "stopped by pid", || !alive(pid)).await;
}
