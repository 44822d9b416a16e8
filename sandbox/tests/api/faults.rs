//! Fault injection: planned request failures (in-process and over `/sandbox/faults`), killed
//! pod processes.
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::Api;
use serde_json::json;

use cnpgops_sandbox::apiserver::faults::Fault;

use crate::harness::{api_err, start};

#[tokio::test]
async fn planned_failures_hit_the_next_matching_requests_only() {
    let w = start().await;
    let ns = w.namespace("faulty").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    w.sandbox.api.faults.add(Fault {
        verb: "POST".into(),
        path: "/configmaps".into(),
        status: 500,
        count: 2,
        message: None,
    });
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    for _ in 0..2 {
        let err = api_err(api.create(&PostParams::default(), &cm).await.unwrap_err());
        assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    }
    api.list(&ListParams::default()).await.unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    // kube-rs retries a 503 by itself: one injected 503 is invisible to the caller.
    w.sandbox.api.faults.add(Fault {
        verb: "POST".into(),
        path: "/configmaps".into(),
        status: 503,
        count: 1,
        message: None,
    });
    let other: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "d"}})).unwrap();
    api.create(&PostParams::default(), &other).await.unwrap();

    let fault =
        json!({"verb": "GET", "path": format!("/namespaces/{ns}/configmaps/c"), "status": 500})
            .to_string();
    w.raw("POST", "/sandbox/faults", "application/json", &fault)
        .await
        .unwrap();
    assert_eq!(api_err(api.get("c").await.unwrap_err()).code, 500);
    api.get("c").await.unwrap();
}

#[tokio::test]
async fn a_killed_pod_process_fails_the_pod_and_its_job() {
    let w = start().await;
    let ns = w.namespace("kill").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let job = json!({"metadata": {"name": "victim"}, "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "x", "command": ["sleep", "304.5"]}]}}}});
    jobs.create(
        &PostParams::default(),
        &serde_json::from_value(job).unwrap(),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let name = loop {
        let running = pods
            .list(&ListParams::default().labels("job-name=victim"))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        if let Some(p) = running {
            break p.metadata.name.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let body = json!({"namespace": ns, "name": name}).to_string();
    let mut killed = false;
    for _ in 0..50 {
        killed = w
            .raw("POST", "/sandbox/kill-pod", "application/json", &body)
            .await
            .unwrap()
            .contains("true");
        if killed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(killed);
    let failed = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Failed")
    };
    let pod = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(pods, &name, failed),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let term = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(term.exit_code, 137);
    let job_failed = |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Failed"))
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(jobs, "victim", job_failed),
    )
    .await
    .unwrap()
    .unwrap();
}
