//! The Argo CD application controller: a manual sync through `operation` runs the Sync hook Job
//! (failing, then succeeding), applies and prunes manifests, and reports operationState, sync
//! and health; automated sync runs each new revision once.
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::Api;
use serde_json::{json, Value};

use crate::harness::{start, World};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: payload:1}]}
"#;

const MIGRATE: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: web-migrate
  annotations:
    argocd.argoproj.io/hook: Sync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: payload:1
        command: ["/bin/sh", "-c", "if [ \"$MODE\" = fail ]; then echo 'ERROR: migration 0042 failed' >&2; exit 1; fi; echo migrated"]
        env:
        - name: MODE
          valueFrom: {configMapKeyRef: {name: migration-mode, key: mode}}
"#;

fn apps(w: &World) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(w.client.clone(), "argocd", &ar)
}

async fn world(automated: bool) -> World {
    let w = start().await;
    w.namespace("argocd").await;
    w.namespace("web-app-dev").await;
    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), "argocd");
    let git = json!({"metadata": {"name": "app-dev-git"}, "data": {"10-deployment.yaml": DEPLOYMENT, "20-migrate.yaml": MIGRATE, "30-extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"}});
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(git).unwrap(),
    )
    .await
    .unwrap();
    set_mode(&w, "fail").await;
    let mut spec = json!({"project": "default", "source": {"repoURL": "https://git.example/app.git", "path": "apps/app/dev", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "web-app-dev"}});
    if automated {
        spec["syncPolicy"] = json!({"automated": {"prune": true}});
    }
    let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "app-dev", "annotations": {"sandbox.cnpgops.io/manifests": "app-dev-git"}}, "spec": spec});
    apps(&w)
        .create(
            &PostParams::default(),
            &serde_json::from_value(app).unwrap(),
        )
        .await
        .unwrap();
    w
}

async fn set_mode(w: &World, mode: &str) {
    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), "web-app-dev");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "migration-mode"}, "data": {"mode": mode}});
    cms.patch(
        "migration-mode",
        &PatchParams::apply("test").force(),
        &Patch::Apply(&cm),
    )
    .await
    .unwrap();
}

async fn sync(w: &World) -> Value {
    let op = json!({"operation": {"initiatedBy": {"username": "tester"}, "sync": {"prune": true, "syncStrategy": {"hook": {}}}}});
    apps(w)
        .patch("app-dev", &PatchParams::default(), &Patch::Merge(op))
        .await
        .unwrap();
    finished(w).await
}

async fn finished(w: &World) -> Value {
    let done = |a: Option<&DynamicObject>| {
        a.is_some_and(|a| {
            a.data.get("operation").is_none_or(Value::is_null)
                && matches!(
                    a.data
                        .pointer("/status/operationState/phase")
                        .and_then(Value::as_str),
                    Some("Succeeded" | "Failed" | "Error")
                )
        })
    };
    let app = tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(apps(w), "app-dev", done),
    )
    .await
    .expect("sync in time")
    .unwrap()
    .unwrap();
    app.data
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_then_succeeding_migration_hook() {
    let w = world(false).await;
    let app = sync(&w).await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Failed");
    assert_eq!(
        state["message"],
        "one or more synchronization tasks completed unsuccessfully"
    );
    assert_eq!(state["operation"]["initiatedBy"]["username"], "tester");
    let hook = state["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "web-migrate")
        .unwrap()
        .clone();
    assert_eq!(
        (hook["hookType"].as_str(), hook["hookPhase"].as_str()),
        (Some("Sync"), Some("Failed"))
    );
    assert_eq!(
        hook["message"],
        "Job has reached the specified backoff limit"
    );
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), "web-app-dev");
    let failed_job = jobs.get("web-migrate").await.unwrap();
    assert!(
        failed_job
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty(),
        "the hook finalizer is removed when the hook ends"
    );

    set_mode(&w, "ok").await;
    let app = sync(&w).await;
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");
    assert_eq!(
        app["status"]["operationState"]["message"],
        "successfully synced (all tasks run)"
    );
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    assert_eq!(app["status"]["health"]["status"], "Healthy");
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
    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), "web-app-dev");
    assert!(cms.get_opt("extra").await.unwrap().is_some());
    w.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_removes_what_git_no_longer_holds() {
    let w = world(false).await;
    set_mode(&w, "ok").await;
    assert_eq!(
        sync(&w).await["status"]["operationState"]["phase"],
        "Succeeded"
    );
    let git: Api<ConfigMap> = Api::namespaced(w.client.clone(), "argocd");
    git.patch(
        "app-dev-git",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"30-extra.yaml": null}})),
    )
    .await
    .unwrap();
    let app = sync(&w).await;
    let pruned: Vec<&Value> = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "Pruned")
        .collect();
    assert_eq!(pruned.len(), 1);
    assert_eq!(pruned[0]["name"], "extra");
    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), "web-app-dev");
    assert!(cms.get_opt("extra").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn automated_sync_runs_a_revision_once() {
    let w = world(true).await;
    let app = finished(&w).await;
    assert_eq!(app["status"]["operationState"]["phase"], "Failed");
    assert_eq!(
        app["status"]["operationState"]["operation"]["initiatedBy"]["automated"],
        true
    );
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), "web-app-dev");
    let uid = jobs.get("web-migrate").await.unwrap().metadata.uid;
    // The failed revision is not retried automatically.
    set_mode(&w, "ok").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jobs.get("web-migrate").await.unwrap().metadata.uid, uid);
    assert!(apps(&w)
        .get("app-dev")
        .await
        .unwrap()
        .data
        .get("operation")
        .is_none_or(Value::is_null));
}
