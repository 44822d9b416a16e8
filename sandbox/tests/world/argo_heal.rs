//! Row 14 of real-cluster-behaviour.md: with `automated.selfHeal`, drift from Git is synced back
//! (after the self-heal backoff: the first at once, then 2 s, ...), syncing only what drifted;
//! without automated sync, with it disabled, or with selfHeal off, drift stays.
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use crate::argo_support::{app_when, apps, finished, world_with, APP_NS, DEPLOYMENT, EXTRA};

async fn replicas(d: &Api<Deployment>) -> i32 {
    d.get("web").await.unwrap().spec.replicas.unwrap()
}

async fn scale_to_zero(d: &Api<Deployment>) {
    let p = Patch::Merge(json!({"spec": {"replicas": 0}}));
    d.patch("web", &PatchParams::default(), &p).await.unwrap();
}

/// Replaces `spec.syncPolicy.automated` (null removes it): a merge patch would merge into it.
async fn set_automated(client: &kube::Client, automated: Value) {
    for value in [Value::Null, automated] {
        let p = Patch::Merge(json!({"spec": {"syncPolicy": {"automated": value}}}));
        apps(client)
            .patch("app-dev", &PatchParams::default(), &p)
            .await
            .unwrap();
    }
}

fn heals(app: &Value) -> Option<u64> {
    app.pointer("/status/operationState/operation/sync/autoHealAttemptsCount")
        .and_then(Value::as_u64)
}

/// After drift, no sync happens: the drift stays and the refresh reports OutOfSync.
async fn drift_stays(client: &kube::Client, d: &Api<Deployment>, heals_before: Option<u64>) {
    scale_to_zero(d).await;
    app_when(client, 20, |a| {
        a.pointer("/status/sync/status") == Some(&json!("OutOfSync"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(replicas(d).await, 0, "no self-heal");
    let app = apps(client).get("app-dev").await.unwrap().data;
    assert_eq!(
        heals(&app),
        heals_before,
        "no sync: {:#}",
        app["status"]["operationState"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_self_heal_scales_back_a_deployment_scaled_to_zero_by_hand() {
    let policy = json!({"automated": {"prune": true, "selfHeal": true}});
    let git = [("10-deployment.yaml", DEPLOYMENT), ("30-extra.yaml", EXTRA)];
    let w = world_with(&git, policy, APP_NS, true).await;
    let c = w.client.clone();
    assert_eq!(
        finished(&c).await["status"]["operationState"]["phase"],
        "Succeeded"
    );
    let d: Api<Deployment> = Api::namespaced(c.clone(), APP_NS);
    assert_eq!(replicas(&d).await, 2);

    scale_to_zero(&d).await;
    let app = app_when(&c, 30, |a| heals(a) == Some(1) && a["operation"].is_null()).await;
    let op = &app["status"]["operationState"]["operation"];
    assert_eq!(op["initiatedBy"]["automated"], true);
    assert_eq!(
        op["sync"]["resources"],
        json!([{"group": "apps", "kind": "Deployment", "name": "web"}])
    );
    assert_eq!(replicas(&d).await, 2, "scaled back to Git's replicas");
    // A change to what Git does not set is no drift.
    let p = Patch::Merge(json!({"metadata": {"annotations": {"example.com/note": "by hand"}}}));
    d.patch("web", &PatchParams::default(), &p).await.unwrap();

    set_automated(&c, Value::Null).await;
    drift_stays(&c, &d, Some(1)).await;
    set_automated(
        &c,
        json!({"enabled": false, "prune": true, "selfHeal": true}),
    )
    .await;
    drift_stays(&c, &d, Some(1)).await;
    set_automated(&c, json!({"prune": true})).await;
    drift_stays(&c, &d, Some(1)).await;

    set_automated(&c, json!({"prune": true, "selfHeal": true})).await;
    app_when(&c, 30, |a| heals(a) == Some(2) && a["operation"].is_null()).await;
    assert_eq!(replicas(&d).await, 2, "healed again once selfHeal is back");
    let d = d.get("web").await.unwrap();
    assert_eq!(
        d.metadata.annotations.unwrap()["example.com/note"],
        "by hand"
    );
    w.sandbox.stop().await;
}
