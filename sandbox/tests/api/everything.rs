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
