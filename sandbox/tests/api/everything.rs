//! The dump tests use for "nothing changed" and leak scans: every object, Secrets with their data.
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

use crate::harness::start;

#[tokio::test(flavor = "multi_thread")]
async fn everything_holds_secrets_with_their_data_and_a_growing_counter() {
    let w = start().await;
    let ns = w.namespace("dump").await;
    let (_, before) = w.sandbox.everything().await.unwrap();
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "stringData": {"password": "dump-Pa55"}}),
    )
    .unwrap();
    Api::<Secret>::namespaced(w.client.clone(), &ns)
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let (all, after) = w.sandbox.everything().await.unwrap();
    assert!(
        after > before,
        "the counter grows with a write: {before} -> {after}"
    );
    let secret = all
        .iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "s")
        .unwrap_or_else(|| {
            let mut k: Vec<String> = all.iter().map(|o| o["kind"].to_string()).collect();
            k.sort();
            k.dedup();
            panic!("the Secret is not listed; kinds: {k:?}")
        });
    // base64 of dump-Pa55
    assert_eq!(secret["data"]["password"], "ZHVtcC1QYTU1");
}

/// The counter's honesty the other way: with nothing written through the API, it stays put for
/// longer than the control plane's longest renewal period (10 s), so a test's "nothing was
/// written" never fails on a lease the apiserver renews on its own (CI once saw the peer-endpoint
/// lease move it during a dry run that took longer than 10 s under load).
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_sandbox_moves_neither_the_objects_nor_the_counter() {
    let w = start().await;
    let settled = std::time::Instant::now();
    let (mut objects, mut rev) = w.sandbox.everything().await.unwrap();
    let mut still = std::time::Instant::now();
    // Wait until start-up's own writes are over (objects unchanged for 3 s).
    while still.elapsed() < std::time::Duration::from_secs(3) {
        assert!(
            settled.elapsed().as_secs() < 120,
            "the sandbox never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = w.sandbox.everything().await.unwrap();
        if now.0 != objects {
            (objects, rev, still) = (now.0, now.1, std::time::Instant::now());
        } else {
            rev = now.1;
        }
    }
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let (after, moved) = w.sandbox.everything().await.unwrap();
    let changed: Vec<String> = after
        .iter()
        .filter(|o| !objects.contains(o))
        .map(|o| {
            format!(
                "{} {}/{}",
                o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]
            )
        })
        .collect();
    assert!(
        changed.is_empty(),
        "objects changed while idle: {changed:?}"
    );
    assert_eq!(moved, rev, "the counter moved while nothing was written");
}
