//! Step kinds against scripted answers: `cnpg.backup` adopts this run's Backup and fails at
//! once when it failed; `kube.apply` adopts the object an earlier attempt created;
//! `argo.autosync` reads the Application again after a 409 Conflict and writes once more;
//! `cnpg.delete_cluster` waits for the Cluster's Pods through a 500 and a 503; `argo.sync`
//! writes its operation again after a 409 and follows it to Synced/Healthy on the watch.

use std::sync::Arc;

use serde_json::{json, Value};

use super::apiserver::{get, list, patch, start, watch, Exchange};
use crate::engine::step::{RunMode, Step};
use crate::k8s::Connector;
use crate::steps::testing::context;

/// The run id of `steps::testing::context`.
const RUN: &str = "20260101-000000-abcd";

fn kind(script: Vec<Exchange>, uses: &str) -> (Arc<dyn Step>, super::apiserver::ApiServer) {
    let (client, server) = start(script);
    let registry = crate::steps::registry_with(Connector::connected(client, "default"));
    (registry.get(uses).expect("a kind").clone(), server)
}

const CNPG: &str = "/apis/postgresql.cnpg.io/v1/namespaces/databases";

#[tokio::test]
async fn cnpg_backup_adopts_this_runs_backup_and_fails_at_once_when_it_failed() {
    let name = format!("shop-cnpg-{RUN}");
    let cluster = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "shop-cnpg", "namespace": "databases", "uid": "u1"},
        "spec": {"backup": {"barmanObjectStore": {"destinationPath": "s3://backups/shop",
            "s3Credentials": {"inheritFromIAMRole": true}}}}});
    let backup = |phase: &str| {
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": "databases", "resourceVersion": "7"},
            "spec": {"cluster": {"name": "shop-cnpg"}},
            "status": {"phase": phase, "error": "can't upload: AccessDenied"}})
    };
    let (step, server) = kind(
        vec![
            get(&format!("{CNPG}/clusters/shop-cnpg")).reply(cluster),
            get(&format!("{CNPG}/backups/{name}")).reply(backup("running")),
            list(&format!("{CNPG}/backups"))
                .query(&format!("fieldSelector=metadata.name={name}"))
                .items("7", vec![backup("failed")]),
        ],
        "cnpg.backup",
    );
    let dir = tempfile::tempdir().unwrap();
    let with = json!({"namespace": "databases", "cluster": "shop-cnpg", "timeout": "10m"});
    let (ctx, rec) = context(with, RunMode::Real, dir.path());
    let t0 = std::time::Instant::now();
    let err = step
        .run(&ctx)
        .await
        .expect_err("a failed Backup fails the step");
    assert!(
        t0.elapsed().as_secs() < 60,
        "failed fast, not at the timeout"
    );
    assert_eq!(
        err.to_string(),
        format!("Backup databases/{name} failed: phase `failed`: can't upload: AccessDenied")
    );
    let logged = format!("{:?}", rec.events());
    assert!(logged.contains("adopting Backup databases/"), "{logged}");
    server.done();
}

#[tokio::test]
async fn kube_apply_adopts_the_object_an_earlier_attempt_created() {
    let labels = json!({"cnpgops.io/run-id": RUN, "cnpgops.io/step": "s"});
    let ours = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings-x7k2p", "namespace": "web", "uid": "cm-1",
            "resourceVersion": "5", "labels": labels},
        "data": {"mode": "old"}});
    let path = "/api/v1/namespaces/web/configmaps";
    let (step, server) = kind(
        vec![
            list(path)
                .query(&format!(
                    "labelSelector=cnpgops.io/run-id={RUN},cnpgops.io/step=s"
                ))
                .items("5", vec![ours.clone()]),
            get(&format!("{path}/settings-x7k2p")).reply(ours.clone()),
            patch(&format!("{path}/settings-x7k2p"))
                .query("fieldManager=cnpgops")
                .body(
                    json!({"metadata": {"name": "settings-x7k2p", "labels": labels},
                    "data": {"mode": "new"}}),
                )
                .reply(ours),
        ],
        "kube.apply",
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"generateName": "settings-", "namespace": "web"}, "data": {"mode": "new"}});
    let (ctx, rec) = context(json!({"manifest": manifest}), RunMode::Real, dir.path());
    let out = step.run(&ctx).await.expect("adopted");
    assert_eq!(out.values["name"], "settings-x7k2p");
    assert_eq!(out.values["created"], false);
    let logged = format!("{:?}", rec.events());
    assert!(
        logged.contains(
            "adopted (created by an earlier attempt of this step) ConfigMap web/settings-x7k2p"
        ),
        "{logged}"
    );
    server.done();
}

#[tokio::test]
async fn argo_autosync_reads_the_application_again_after_a_409_conflict() {
    let app = |rv: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web-x-dev", "namespace": "argocd", "resourceVersion": rv},
            "spec": {"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}})
    };
    let path = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/web-x-dev";
    let paused = |rv: &str| {
        json!({"metadata": {"resourceVersion": rv},
            "spec": {"syncPolicy": {"automated": Value::Null}}})
    };
    let (step, server) = kind(
        vec![
            get(path).reply(app("1")),
            get(path).reply(app("1")),
            patch(path).body(paused("1")).fail(409, "Conflict"),
            get(path).reply(app("2")),
            patch(path).body(paused("2")).reply(app("3")),
        ],
        "argo.autosync",
    );
    let dir = tempfile::tempdir().unwrap();
    let with = json!({"action": "pause", "namespace": "argocd", "name": "web-x-dev"});
    let (ctx, _) = context(with, RunMode::Real, dir.path());
    let out = step.run(&ctx).await.expect("paused after the conflict");
    assert_eq!(out.values["changed"], true);
    assert_eq!(
        out.values["automated"],
        json!({"prune": true, "selfHeal": true})
    );
    let patches = server
        .done()
        .iter()
        .filter(|r| r.starts_with("PATCH"))
        .count();
    assert_eq!(patches, 2, "written again once, after reading it again");
}

#[tokio::test]
async fn cnpg_delete_cluster_waits_for_the_pods_through_a_500_and_a_503() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "shop-cnpg-1", "namespace": "databases", "resourceVersion": "3",
            "labels": {"cnpg.io/cluster": "shop-cnpg"},
            "ownerReferences": [{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                "name": "shop-cnpg", "uid": "u1"}]}});
    let mut gone = pod.clone();
    gone["metadata"]["resourceVersion"] = json!("4");
    let (pods, pvcs) = (
        "/api/v1/namespaces/databases/pods",
        "/api/v1/namespaces/databases/persistentvolumeclaims",
    );
    let selector = "labelSelector=cnpg.io/cluster=shop-cnpg";
    let (step, server) = kind(
        vec![
            get(&format!("{CNPG}/clusters/shop-cnpg")).fail(404, "NotFound"),
            list(pods).query(selector).fail(500, "InternalError"),
            list(pods).query(selector).items("3", vec![pod]),
            watch(pods).query(selector).fail(503, "ServiceUnavailable"),
            watch(pods)
                .query(selector)
                .query("resourceVersion=3")
                .events(vec![("DELETED", gone)]),
            list(pvcs).query(selector).items("3", vec![]),
        ],
        "cnpg.delete_cluster",
    );
    let dir = tempfile::tempdir().unwrap();
    let with = json!({"namespace": "databases", "name": "shop-cnpg", "uid": "u1", "timeout": "1m"});
    let (ctx, rec) = context(with, RunMode::Real, dir.path());
    let out = step.run(&ctx).await.expect("gone");
    assert_eq!(out.values["deleted"], true);
    let logged = format!("{:?}", rec.events());
    assert!(logged.contains("is already gone"), "{logged}");
    server.done();
}

#[tokio::test]
async fn argo_sync_writes_its_operation_after_a_409_and_waits_on_the_watch() {
    let path = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications";
    let one = format!("{path}/web-x-dev");
    let app = |rv: &str, rest: Value| {
        let mut a = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web-x-dev", "namespace": "argocd", "resourceVersion": rv},
            "spec": {"source": {"targetRevision": "main"}}});
        a.as_object_mut()
            .unwrap()
            .extend(rest.as_object().unwrap().clone());
        a
    };
    let info = json!([{"name": "cnpgops-run", "value": RUN}]);
    let before = json!({"status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"},
        "operationState": {"phase": "Failed", "finishedAt": "2026-01-01T09:00:00Z"}}});
    let requested = json!({"operation": {"info": info}});
    let ended = json!({"status": {"sync": {"status": "Synced", "revision": "abc"},
        "health": {"status": "Healthy"}, "reconciledAt": "2026-01-01T10:00:06Z",
        "operationState": {"phase": "Succeeded", "finishedAt": "2026-01-01T10:00:05Z",
            "operation": {"info": info}, "syncResult": {"revision": "abc"}}}});
    let write =
        |rv: &str| json!({"metadata": {"resourceVersion": rv}, "operation": {"info": info}});
    let name = "fieldSelector=metadata.name=web-x-dev";
    let (step, server) = kind(
        vec![
            get(&one).reply(app("1", before.clone())),
            patch(&one).body(write("1")).fail(409, "Conflict"),
            get(&one).reply(app("2", before)),
            patch(&one)
                .body(write("2"))
                .reply(app("3", requested.clone())),
            list(path).query(name).items("3", vec![app("3", requested)]),
            watch(path)
                .query(name)
                .query("resourceVersion=3")
                .events(vec![("MODIFIED", app("4", ended.clone()))]),
            list(path).query(name).items("4", vec![app("4", ended)]),
        ],
        "argo.sync",
    );
    let dir = tempfile::tempdir().unwrap();
    let with = json!({"namespace": "argocd", "name": "web-x-dev", "username": "ci"});
    let (ctx, rec) = context(with, RunMode::Real, dir.path());
    let out = step.run(&ctx).await.expect("synced");
    assert_eq!(out.values["phase"], "Succeeded");
    assert_eq!(
        (&out.values["sync"], &out.values["health"]),
        (&json!("Synced"), &json!("Healthy"))
    );
    let logged = format!("{:?}", rec.events());
    assert!(
        logged.contains("changed while starting the sync"),
        "{logged}"
    );
    assert!(logged.contains("sync operation requested"), "{logged}");
    server.done();
}
