//! Rows 14 of real-cluster-behaviour.md: annotation tracking (`<app>:<group>/<kind>:<ns>/<name>`
//! on every applied resource and hook) and prune of every tracked kind no longer in Git, with
//! foreground propagation; objects tracked by another app, or carrying a copied id, stay.
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;

use crate::argo_support::{
    edit_git, gone, results, sync, world_with, APP_NS, DEPLOYMENT, EXTRA, MIGRATE, TRACKING_ID,
};

const ROBOT: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n";
const HOLD: &str = "test.cnpgops.io/hold";

fn id<K: Resource>(obj: &K) -> Option<String> {
    obj.meta().annotations.as_ref()?.get(TRACKING_ID).cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn argo_tracks_by_annotation_and_prunes_every_tracked_kind_in_the_foreground() {
    let git = [
        ("10-deployment.yaml", DEPLOYMENT),
        ("20-migrate.yaml", MIGRATE),
        ("30-extra.yaml", EXTRA),
        ("40-robot.yaml", ROBOT),
    ];
    let w = world_with(&git, serde_json::Value::Null, APP_NS, true).await;
    let app = sync(&w.client).await;
    assert_eq!(
        app["status"]["operationState"]["phase"], "Succeeded",
        "{app:#}"
    );

    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), APP_NS);
    let sas: Api<ServiceAccount> = Api::namespaced(w.client.clone(), APP_NS);
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), APP_NS);
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(w.client.clone(), APP_NS);
    let extra = cms.get("extra").await.unwrap();
    assert_eq!(
        id(&extra).as_deref(),
        Some("app-dev:/ConfigMap:web-app-dev/extra")
    );
    assert_eq!(
        id(&sas.get("robot").await.unwrap()).as_deref(),
        Some("app-dev:/ServiceAccount:web-app-dev/robot")
    );
    assert_eq!(
        id(&deploys.get("web").await.unwrap()).as_deref(),
        Some("app-dev:apps/Deployment:web-app-dev/web")
    );
    assert_eq!(
        id(&jobs.get("web-migrate").await.unwrap()).as_deref(),
        Some("app-dev:batch/Job:web-app-dev/web-migrate")
    );
    assert!(
        !extra
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("app.kubernetes.io/instance"),
        "annotation tracking adds no instance label"
    );

    // Not ours: another app's object, and an object carrying a copy of one of our ids.
    let foreign = json!({"metadata": {"name": "foreign", "annotations": {TRACKING_ID: "other:/ConfigMap:web-app-dev/foreign"}}});
    let copied = json!({"metadata": {"name": "copied", "annotations": {TRACKING_ID: "app-dev:/ConfigMap:web-app-dev/extra"}}});
    // A dependent holding `extra` while it is deleted in the foreground.
    let uid = extra.metadata.uid.clone().unwrap();
    let child = json!({"metadata": {"name": "child", "finalizers": [HOLD], "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "extra", "uid": uid, "blockOwnerDeletion": true}]}});
    for obj in [foreign, copied, child] {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(obj).unwrap(),
        )
        .await
        .unwrap();
    }

    edit_git(
        &w.client,
        json!({"data": {"30-extra.yaml": null, "40-robot.yaml": null}}),
    )
    .await;
    let app = sync(&w.client).await;
    assert_eq!(results(&app, "extra")[0]["status"], "Pruned", "{app:#}");
    assert_eq!(results(&app, "robot")[0]["status"], "Pruned");
    assert!(results(&app, "foreign").is_empty() && results(&app, "copied").is_empty());
    assert!(gone(&sas, "robot").await, "a ServiceAccount is pruned too");
    let held = cms.get("extra").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(
        held.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "foregroundDeletion"),
        "deleted with foreground propagation"
    );
    for name in ["foreign", "copied"] {
        assert!(
            cms.get(name)
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_none(),
            "{name} kept"
        );
    }
    let rs: Api<ReplicaSet> = Api::namespaced(w.client.clone(), APP_NS);
    assert!(
        !rs.list(&Default::default()).await.unwrap().items.is_empty(),
        "the Deployment's ReplicaSet is kept"
    );

    // Once its dependent goes, the foreground deletion completes.
    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    cms.patch("child", &PatchParams::default(), &release)
        .await
        .unwrap();
    assert!(gone(&cms, "extra").await);
    w.sandbox.stop().await;
}
