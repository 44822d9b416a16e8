//! The Argo CD application controller, seen through the API: a manual sync runs the Sync hook
//! Job (failing, then succeeding: BeforeHookCreation, the hook finalizer), applies and prunes;
//! automated sync runs a failed revision once when retries are off, and retries it (limit 5)
//! by default.
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::{json, Value};

use crate::argo_support::{apps, finished, results, set_mode, sync, world, APP_NS};

#[tokio::test(flavor = "multi_thread")]
async fn argo_failing_then_succeeding_migration_hook() {
    let w = world(Value::Null).await;
    set_mode(&w.client, "fail").await;
    let app = sync(&w.client).await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Failed");
    assert_eq!(
        state["message"],
        "one or more synchronization tasks completed unsuccessfully"
    );
    assert_eq!(state["operation"]["initiatedBy"]["username"], "tester");
    let hook = results(&app, "web-migrate")[0];
    assert_eq!(
        (hook["hookType"].as_str(), hook["hookPhase"].as_str()),
        (Some("Sync"), Some("Failed"))
    );
    assert_eq!(
        hook["message"],
        "Job has reached the specified backoff limit"
    );
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), APP_NS);
    let failed_job = jobs.get("web-migrate").await.unwrap();
    assert!(
        failed_job
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty(),
        "the hook finalizer is removed when the hook ends"
    );

    set_mode(&w.client, "ok").await;
    let app = sync(&w.client).await;
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");
    assert_eq!(
        app["status"]["operationState"]["message"],
        "successfully synced (all tasks run)"
    );
    let new_job = jobs.get("web-migrate").await.unwrap();
    assert_ne!(
        new_job.metadata.uid, failed_job.metadata.uid,
        "BeforeHookCreation recreated the hook"
    );
    assert!(new_job
        .status
        .unwrap()
        .conditions
        .unwrap()
        .iter()
        .any(|c| c.type_ == "Complete"));
    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), APP_NS);
    assert!(cms.get_opt("extra").await.unwrap().is_some());
    w.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_automated_sync_does_not_retry_a_failed_revision_without_retries() {
    let w = world(json!({"automated": {"prune": true}, "retry": {"limit": 0}})).await;
    set_mode(&w.client, "fail").await;
    let app = finished(&w.client).await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Failed", "{state:#}");
    assert_eq!(state["operation"]["initiatedBy"]["automated"], true);
    assert_eq!(
        state["operation"]["retry"],
        json!({"limit": 0}),
        "the spec's retry"
    );
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), APP_NS);
    let uid = jobs.get("web-migrate").await.unwrap().metadata.uid;
    // The failed revision is not synced again automatically.
    set_mode(&w.client, "ok").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(jobs.get("web-migrate").await.unwrap().metadata.uid, uid);
    let app = apps(&w.client).get("app-dev").await.unwrap().data;
    assert!(app.get("operation").is_none_or(Value::is_null));
    assert_eq!(app["status"]["operationState"]["phase"], "Failed");
    w.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_automated_sync_retries_a_failed_attempt_five_times_by_default() {
    let w = world(json!({"automated": {"prune": true}})).await;
    set_mode(&w.client, "fail").await;
    let client = w.client.clone();
    let retrying = crate::argo_support::app_when(&client, 60, |a| {
        a.pointer("/status/operationState/retryCount") == Some(&json!(1))
    })
    .await;
    let state = &retrying["status"]["operationState"];
    assert_eq!(
        state["operation"]["retry"],
        json!({"limit": 5}),
        "{state:#}"
    );
    assert_eq!(state["phase"], "Running");
    assert!(
        !retrying["operation"].is_null(),
        "the operation stays while it is retried"
    );
    let message = state["message"].as_str().unwrap();
    assert!(message.contains("Retrying attempt #1"), "{message}");
    set_mode(&w.client, "ok").await;
    let app = finished(&w.client).await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Succeeded", "{state:#}");
    assert_eq!(
        state["message"],
        "successfully synced (all tasks run) (retried 1 times)."
    );
    w.sandbox.stop().await;
}
