//! The wait helper and the Job follower against scripted answers: a 410 Gone on the watch
//! re-lists, 5xx on the list or the watch is retried, a 403 fails at once, a Job whose Pod
//! cannot be created (FailedCreate) ends the follow at once and is deleted.

use std::time::Duration;

use kube::core::DynamicObject;
use kube::Api;
use serde_json::{json, Value};

use super::apiserver::{delete, get, list, start, status, watch};
use crate::k8s::conditions::{Condition, CLUSTER_HEALTHY_PHASE};
use crate::k8s::job::{follow, Outcome};
use crate::k8s::{resources, wait, Connector, K8sError, ObjectRef};

const CLUSTERS: &str = "/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters";

fn cluster(phase: &str, rv: &str) -> Value {
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "shop-cnpg", "namespace": "databases", "uid": "u1", "resourceVersion": rv},
        "spec": {"instances": 1}, "status": {"phase": phase}})
}

/// Waits (30 s at most) for Cluster databases/shop-cnpg to be `cluster_healthy`.
async fn healthy(client: kube::Client) -> Result<Option<DynamicObject>, K8sError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, "databases", &resources::cnpg_cluster());
    let object = ObjectRef::new("Cluster", Some("databases"), "shop-cnpg");
    let limit = Duration::from_secs(30);
    wait::until(&api, &object, Condition::ClusterHealthy, None, limit).await
}

const ONE: &str = "fieldSelector=metadata.name=shop-cnpg";

#[tokio::test]
async fn a_410_gone_on_the_watch_re_lists_and_the_wait_goes_on() {
    let (client, server) = start(vec![
        list(CLUSTERS)
            .query(ONE)
            .items("1", vec![cluster("Setting up primary", "1")]),
        watch(CLUSTERS)
            .query(ONE)
            .query("resourceVersion=1")
            .events(vec![("ERROR", status(410, "Expired"))]),
        list(CLUSTERS)
            .query(ONE)
            .items("9", vec![cluster(CLUSTER_HEALTHY_PHASE, "9")]),
    ]);
    let found = healthy(client).await.expect("healthy after the re-list");
    assert_eq!(
        found.unwrap().metadata.resource_version.as_deref(),
        Some("9")
    );
    let lists = server
        .done()
        .iter()
        .filter(|r| !r.contains("watch=true"))
        .count();
    assert_eq!(lists, 2, "listed again after 410 Gone");
}

#[tokio::test]
async fn a_5xx_on_the_list_or_the_watch_is_retried_and_the_wait_goes_on() {
    let (client, server) = start(vec![
        list(CLUSTERS).query(ONE).fail(503, "ServiceUnavailable"),
        list(CLUSTERS)
            .query(ONE)
            .items("1", vec![cluster("Setting up primary", "1")]),
        watch(CLUSTERS).query(ONE).fail(500, "InternalError"),
        watch(CLUSTERS)
            .query(ONE)
            .query("resourceVersion=1")
            .events(vec![("MODIFIED", cluster(CLUSTER_HEALTHY_PHASE, "2"))]),
    ]);
    let found = healthy(client)
        .await
        .expect("healthy once the server answers again");
    assert_eq!(
        found.unwrap().metadata.resource_version.as_deref(),
        Some("2")
    );
    server.done();
}

#[tokio::test]
async fn a_403_fails_the_wait_at_once() {
    let (client, server) = start(vec![list(CLUSTERS).query(ONE).fail(403, "Forbidden")]);
    let err = healthy(client)
        .await
        .expect_err("forbidden is not waited through");
    assert!(
        matches!(&err, K8sError::Invalid { message, .. } if message.contains("failed to watch it")),
        "{err}"
    );
    server.done();
}

const JOBS: &str = "/apis/batch/v1/namespaces/databases/jobs";

fn job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "refresh-1", "namespace": "databases", "uid": "job-uid", "resourceVersion": "3"},
        "spec": {"template": {"spec": {"containers": []}}}, "status": {"active": 1}})
}

fn failed_create() -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "refresh-1.1", "namespace": "databases", "resourceVersion": "4"},
        "involvedObject": {"kind": "Job", "name": "refresh-1", "namespace": "databases", "uid": "job-uid"},
        "reason": "FailedCreate", "type": "Warning", "count": 2,
        "message": "pods \"refresh-1-x\" is forbidden: exceeded quota: pods",
        "lastTimestamp": "2026-12-05T10:05:00Z"})
}

#[tokio::test]
async fn a_job_whose_pod_cannot_be_created_is_deleted_and_reported_at_once() {
    let (client, server) = start(vec![
        get(&format!("{JOBS}/refresh-1")).reply(job()),
        list(JOBS)
            .query("fieldSelector=metadata.name=refresh-1")
            .items("4", vec![job()]),
        list("/api/v1/namespaces/databases/pods")
            .query("labelSelector=batch.kubernetes.io/job-name=refresh-1")
            .items("4", vec![]),
        list("/api/v1/namespaces/databases/events")
            .query("fieldSelector=involvedObject.kind=Job,involvedObject.name=refresh-1")
            .items("4", vec![failed_create()]),
        delete(&format!("{JOBS}/refresh-1"))
            .body(json!({"propagationPolicy": "Background"}))
            .reply(job()),
    ]);
    let kube = Connector::connected(client, "databases")
        .get()
        .await
        .unwrap();
    let outcome = follow(&kube, "databases", "refresh-1", |_| {})
        .await
        .unwrap();
    let Outcome::NotStarted(why) = outcome else {
        panic!("not started expected, got {outcome:?}")
    };
    assert!(
        why.contains("FailedCreate, 2 times") && why.contains("exceeded quota"),
        "{why}"
    );
    server.done();
}
