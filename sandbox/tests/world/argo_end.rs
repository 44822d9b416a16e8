//! Row 16 of real-cluster-behaviour.md: the end of an operation is one write of the terminal
//! `status.operationState` with `operation: null`, which does not touch `status.sync` or
//! `status.health`; a later refresh reports them for the synced revision. The Application CRD
//! has no status subresource.
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, WatchEvent, WatchParams};
use kube::Api;
use serde_json::{json, Value};

use crate::argo_support::{app_when, apps, world_with, APP_NS, EXTRA};

const WAIT: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: wait
  annotations: {argocd.argoproj.io/hook: PostSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: wait, image: payload:1, command: ["/bin/sh", "-c", "sleep 3"]}]
"#;

fn terminal(a: &Value) -> bool {
    matches!(
        a.pointer("/status/operationState/phase")
            .and_then(Value::as_str),
        Some("Succeeded" | "Failed" | "Error")
    )
}

/// Refreshed after the operation: Synced at the synced revision, reconciled since it finished.
fn refreshed(a: &Value) -> bool {
    let s = &a["status"];
    let at = |p: &str| {
        s.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    terminal(a)
        && s["sync"]["status"] == "Synced"
        && s["sync"]["revision"] == s["operationState"]["syncResult"]["revision"]
        && at("/reconciledAt") >= at("/operationState/finishedAt")
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_an_operation_ends_in_one_write_and_sync_status_comes_from_a_later_refresh() {
    // A PostSync hook keeps the operation running for seconds after the last refresh wrote,
    // so a timestamp the ending write touched would show.
    let git = [("30-extra.yaml", EXTRA), ("40-wait.yaml", WAIT)];
    let w = world_with(&git, Value::Null, APP_NS, true).await;
    let crds: Api<CustomResourceDefinition> = Api::all(w.client.clone());
    let crd = crds.get("applications.argoproj.io").await.unwrap();
    assert!(
        crd.spec
            .versions
            .iter()
            .all(|v| v.subresources.as_ref().is_none_or(|s| s.status.is_none())),
        "no status subresource"
    );
    let before = app_when(&w.client, 20, |a| {
        a.pointer("/status/sync/status") == Some(&json!("OutOfSync"))
    })
    .await;
    let rv = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let params = WatchParams::default().fields("metadata.name=app-dev");
    let mut events = apps(&w.client).watch(&params, &rv).await.unwrap().boxed();
    let op = json!({"operation": {"initiatedBy": {"username": "tester"}, "sync": {"syncStrategy": {"hook": {}}}}});
    apps(&w.client)
        .patch("app-dev", &PatchParams::default(), &Patch::Merge(op))
        .await
        .unwrap();

    let mut versions: Vec<Value> = vec![before];
    let collect = async {
        while let Some(Ok(WatchEvent::Modified(a))) = events.next().await {
            let data = serde_json::to_value(&a).unwrap();
            let done = refreshed(&data) && data["operation"].is_null();
            versions.push(data);
            if done {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .expect("the operation ends and a refresh follows");

    let end = versions
        .iter()
        .position(|a| {
            a["operation"].is_null()
                && terminal(a)
                && a["status"]["operationState"]["operation"]["initiatedBy"]["username"] == "tester"
        })
        .expect("a version ending the operation");
    let (last, ending) = (&versions[end - 1], &versions[end]);
    assert!(
        !last["operation"].is_null(),
        "operation cleared in the write that ended it"
    );
    assert_eq!(
        last["status"]["operationState"]["phase"], "Running",
        "terminal state in that same write"
    );
    assert_eq!(
        last["status"]["sync"], ending["status"]["sync"],
        "the ending write leaves status.sync"
    );
    assert_eq!(
        last["status"]["health"], ending["status"]["health"],
        "and status.health"
    );
    // Nothing else changes in that write either (no reconciledAt, no health transition).
    let rest = |a: &Value| {
        let mut a = a.clone();
        for key in ["operation", "metadata"] {
            a.as_object_mut().unwrap().remove(key);
        }
        a["status"]
            .as_object_mut()
            .unwrap()
            .remove("operationState");
        a
    };
    assert_eq!(
        rest(last),
        rest(ending),
        "the ending write holds the operation only"
    );
    assert!(versions[end..].iter().any(refreshed));
    w.sandbox.stop().await;
}
