//! Subresources: `/status` writes change only status (and main writes ignore it), generation,
//! `/scale` on Deployments and CNPG Clusters, `pods/log`.
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{LogParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::harness::start;

/// A suspended Job: the Job controller leaves it (and its status) alone.
fn job() -> Job {
    serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": {"suspend": true, "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "pg:15", "command": ["true"]}]}}}})).unwrap()
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let w = start().await;
    let ns = w.namespace("st").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let mut j = job();
    j.status = Some(serde_json::from_value(json!({"failed": 3})).unwrap());
    let created = jobs.create(&PostParams::default(), &j).await.unwrap();
    assert!(
        created.status.is_none_or(|s| s.failed.is_none()),
        "status on create is dropped"
    );
    assert_eq!(created.metadata.generation, Some(1));
    // The server fills in batch/v1's selector on the job's own uid.
    let uid = created.metadata.uid.clone().unwrap();
    assert_eq!(
        created
            .spec
            .as_ref()
            .unwrap()
            .selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["batch.kubernetes.io/controller-uid"],
        uid
    );

    let out = jobs
        .patch_status(
            "j",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"failed": 1}, "spec": {"backoffLimit": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(out.status.unwrap().failed, Some(1));
    assert_eq!(
        out.spec.unwrap().backoff_limit,
        Some(0),
        "a /status write does not change spec"
    );
    assert_eq!(out.metadata.generation, Some(1));

    let out = jobs
        .patch(
            "j",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"failed": 9}, "metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        out.status.unwrap().failed,
        Some(1),
        "a main write does not change status"
    );
    assert_eq!(
        out.metadata.generation,
        Some(1),
        "metadata changes do not bump generation"
    );

    let out = jobs
        .patch(
            "j",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"backoffLimit": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(out.metadata.generation, Some(2));
}

#[tokio::test]
async fn job_template_is_immutable() {
    let w = start().await;
    let ns = w.namespace("imm").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    jobs.create(&PostParams::default(), &job()).await.unwrap();
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "pg:16"}]}}}});
    let err = crate::harness::api_err(
        jobs.patch("j", &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message.contains("field is immutable"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn deployment_scale_subresource() {
    let w = start().await;
    let ns = w.namespace("scale").await;
    let deps: Api<Deployment> = Api::namespaced(w.client.clone(), &ns);
    let d = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})).unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
    let scale = deps.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    let out = deps
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    assert_eq!(out.spec.unwrap().replicas, Some(0));
    let d = deps.get("web").await.unwrap();
    assert_eq!(d.spec.replicas, Some(0));
    assert_eq!(d.metadata.generation, Some(2));
    // A selector that does not match the template is invalid.
    let bad = serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": {"selector": {"matchLabels": {"app": "x"}},
        "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})).unwrap();
    let err = crate::harness::api_err(deps.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(err.code, 422);
}

#[tokio::test]
async fn pod_logs_read_tail_and_follow() {
    use futures::{AsyncBufReadExt, TryStreamExt};
    let w = start().await;
    let ns = w.namespace("logs").await;
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    // Marked as run by someone else, so the sandbox's kubelet does not run (and log) it.
    let p = serde_json::from_value(json!({"metadata": {"name": "p", "annotations": {"sandbox.cnpgops.io/process": "external"}}, "spec": {"containers": [{"name": "main", "image": "x"}]}})).unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    let key = (ns.clone(), "p".to_string(), "main".to_string());
    w.sandbox.api.logs.append(&key, "one\ntwo\nthree\n");
    assert_eq!(
        pods.logs("p", &LogParams::default()).await.unwrap(),
        "one\ntwo\nthree\n"
    );
    assert_eq!(
        pods.logs(
            "p",
            &LogParams {
                tail_lines: Some(1),
                ..Default::default()
            }
        )
        .await
        .unwrap(),
        "three\n"
    );
    let stream = pods
        .log_stream(
            "p",
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let logs = w.sandbox.api.logs.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        logs.append(&key, "four\n");
        logs.finish(&key);
    });
    let lines: Vec<String> = stream.lines().try_collect().await.unwrap();
    writer.await.unwrap();
    assert_eq!(lines, ["one", "two", "three", "four"]);
}
