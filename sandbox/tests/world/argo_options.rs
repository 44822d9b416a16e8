//! Rows 13 of real-cluster-behaviour.md: the controller reads sync options, prune and retry only
//! from `operation` (the spec's are ignored at sync time), and an automated sync builds its
//! operation from the spec as Argo CD's `autoSync` does.
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use serde_json::{json, Value};

use crate::argo_support::{edit_git, finished, results, sync_with, world_with, DEPLOYMENT, EXTRA};

const NEW_NS: &str = "web-app-new";

fn op(sync: Value) -> Value {
    json!({"initiatedBy": {"username": "tester"}, "sync": sync})
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_options_prune_and_retry_are_read_from_the_operation_only() {
    // The spec asks for everything; automated sync is present but disabled (3.x `enabled`).
    let policy = json!({"automated": {"enabled": false, "prune": true},
        "syncOptions": ["CreateNamespace=true"],
        "retry": {"limit": 3, "backoff": {"duration": "1s"}}});
    let git = [("10-deployment.yaml", DEPLOYMENT), ("30-extra.yaml", EXTRA)];
    let w = world_with(&git, policy, NEW_NS, false).await;
    let namespaces: Api<Namespace> = Api::all(w.client.clone());

    // No options and no retry in the operation: the namespace is not created, one attempt.
    let app = sync_with(&w.client, op(json!({"prune": false}))).await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Failed", "{state:#}");
    assert_eq!(state["message"], "one or more objects failed to apply");
    assert!(state.get("retryCount").is_none(), "no retry: {state:#}");
    assert!(namespaces.get_opt(NEW_NS).await.unwrap().is_none());

    // The operation's retry is followed.
    let retry = json!({"limit": 1, "backoff": {"duration": "1s"}});
    let app = sync_with(&w.client, json!({"sync": {}, "retry": retry})).await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["retryCount"], 1, "{state:#}");
    assert_eq!(
        state["message"],
        "one or more objects failed to apply (retried 1 times)."
    );

    // The operation's option is applied.
    let app = sync_with(
        &w.client,
        op(json!({"syncOptions": ["CreateNamespace=true"]})),
    )
    .await;
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");
    assert!(namespaces.get_opt(NEW_NS).await.unwrap().is_some());

    // Prune only when the operation says so (the spec's automated.prune is not read).
    edit_git(&w.client, json!({"data": {"30-extra.yaml": null}})).await;
    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), NEW_NS);
    let app = sync_with(&w.client, op(json!({"prune": false}))).await;
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");
    assert!(results(&app, "extra").is_empty(), "not pruned");
    assert!(cms.get_opt("extra").await.unwrap().is_some());
    let app = sync_with(&w.client, op(json!({"prune": true}))).await;
    assert_eq!(results(&app, "extra")[0]["status"], "Pruned");
    w.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_automated_sync_copies_options_retry_and_prune_from_the_spec() {
    let policy = json!({"automated": {"prune": true},
        "syncOptions": ["CreateNamespace=true", "PrunePropagationPolicy=background"],
        "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 2, "maxDuration": "10s"}}});
    let git = [("10-deployment.yaml", DEPLOYMENT), ("30-extra.yaml", EXTRA)];
    let w = world_with(&git, policy.clone(), NEW_NS, false).await;
    let app = finished(&w.client).await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Succeeded", "{state:#}");
    let op = &state["operation"];
    assert_eq!(op["initiatedBy"], json!({"automated": true}));
    assert_eq!(op["sync"]["syncOptions"], policy["syncOptions"]);
    assert_eq!(op["retry"], policy["retry"]);
    assert_eq!(op["sync"]["prune"], true);
    assert_eq!(op["sync"]["revision"], state["syncResult"]["revision"]);
    let namespaces: Api<Namespace> = Api::all(w.client.clone());
    assert!(
        namespaces.get_opt(NEW_NS).await.unwrap().is_some(),
        "the copied option took effect"
    );
    w.sandbox.stop().await;
}
