//! Deletion: finalizers hold objects with a deletionTimestamp, namespaces delete their contents,
//! propagation policies and garbage collection of owned objects, preconditions, deletecollection.
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::wait::{await_condition, conditions};
use kube::Api;
use serde_json::json;

use crate::harness::{api_err, start};

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn finalizers_keep_the_object_until_removed() {
    let w = start().await;
    let ns = w.namespace("fin").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    let obj = serde_json::from_value(
        json!({"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    let answer = api.delete("f", &DeleteParams::default()).await.unwrap();
    let held = answer
        .left()
        .expect("a held object is returned, not a Status");
    assert!(held.metadata.deletion_timestamp.is_some());
    let still = api.get("f").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    assert_eq!(
        still.metadata.finalizers.as_deref(),
        Some(&["example.com/hold".to_string()][..])
    );
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    within(
        "deletion",
        await_condition(
            api.clone(),
            "f",
            conditions::is_deleted(created.metadata.uid.as_deref().unwrap()),
        ),
    )
    .await
    .unwrap();
    assert!(api.get_opt("f").await.unwrap().is_none());
}

#[tokio::test]
async fn immediate_delete_answers_a_success_status_and_checks_preconditions() {
    let w = start().await;
    let ns = w.namespace("pre").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap(),
    )
    .await
    .unwrap();
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = api_err(api.delete("p", &dp).await.unwrap_err());
    assert_eq!(err.code, 409);
    let status = api
        .delete("p", &DeleteParams::default())
        .await
        .unwrap()
        .right()
        .expect("a Status for an immediate delete");
    assert!(status.is_success());
    let err = api_err(api.delete("p", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents_and_refuses_new_ones() {
    let w = start().await;
    let ns = w.namespace("doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    let held = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/x"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "plain"}})).unwrap(),
    )
    .await
    .unwrap();
    let nss: Api<Namespace> = Api::all(w.client.clone());
    let uid = nss.get(&ns).await.unwrap().metadata.uid.unwrap();
    nss.delete(&ns, &DeleteParams::default()).await.unwrap();
    let terminating = nss.get(&ns).await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let err = api_err(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    within("plain configmap gone", async {
        while cms.get_opt("plain").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // The held object keeps the namespace alive until its finalizer goes.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(nss.get_opt(&ns).await.unwrap().is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": []}})),
    )
    .await
    .unwrap();
    within(
        "namespace gone",
        await_condition(nss, &ns, conditions::is_deleted(&uid)),
    )
    .await
    .unwrap();
}

fn job_and_pod(name: &str, job_uid: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": job_uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap()
}

#[tokio::test]
async fn propagation_background_deletes_dependents_orphan_keeps_them() {
    let w = start().await;
    let ns = w.namespace("gc").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let spec = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    let job = jobs
        .create(
            &PostParams::default(),
            &serde_json::from_value(spec.clone()).unwrap(),
        )
        .await
        .unwrap();
    let pod = pods
        .create(
            &PostParams::default(),
            &job_and_pod("j-1", job.metadata.uid.as_deref().unwrap()),
        )
        .await
        .unwrap();
    jobs.delete("j", &DeleteParams::background()).await.unwrap();
    within(
        "pod collected",
        await_condition(
            pods.clone(),
            "j-1",
            conditions::is_deleted(pod.metadata.uid.as_deref().unwrap()),
        ),
    )
    .await
    .unwrap();

    let job = jobs
        .create(
            &PostParams::default(),
            &serde_json::from_value(spec).unwrap(),
        )
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &job_and_pod("j-2", job.metadata.uid.as_deref().unwrap()),
    )
    .await
    .unwrap();
    jobs.delete("j", &DeleteParams::orphan()).await.unwrap();
    within(
        "job gone",
        await_condition(
            jobs.clone(),
            "j",
            conditions::is_deleted(job.metadata.uid.as_deref().unwrap()),
        ),
    )
    .await
    .unwrap();
    let orphan = pods.get("j-2").await.unwrap();
    assert!(orphan
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() {
    let w = start().await;
    let ns = w.namespace("fg").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let spec = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    let job = jobs
        .create(
            &PostParams::default(),
            &serde_json::from_value(spec).unwrap(),
        )
        .await
        .unwrap();
    let mut pod = job_and_pod("j-1", job.metadata.uid.as_deref().unwrap());
    pod.metadata.finalizers = Some(vec!["example.com/slow".into()]);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    jobs.delete("j", &DeleteParams::foreground()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pending = jobs.get("j").await.unwrap();
    assert!(pending
        .metadata
        .finalizers
        .unwrap()
        .contains(&"foregroundDeletion".to_string()));
    assert!(pods
        .get("j-1")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    pods.patch(
        "j-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    within(
        "job gone",
        await_condition(
            jobs,
            "j",
            conditions::is_deleted(job.metadata.uid.as_deref().unwrap()),
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn delete_collection_by_label() {
    let w = start().await;
    let ns = w.namespace("coll").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": n, "labels": {"l": l}}})).unwrap(),
        )
        .await
        .unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("l=x"),
    )
    .await
    .unwrap();
    let left: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["c"]);
}
