//! Fault injection: planned failures of clients' writes (the fault webhook), killed pod
//! processes.
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::Api;
use serde_json::json;

use cnpgops_sandbox::faults::Fault;

use crate::harness::{api_err, start};

#[tokio::test(flavor = "multi_thread")]
async fn planned_failures_hit_the_next_matching_client_writes_only() {
    let w = start().await;
    let ns = w.namespace("faulty").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    w.sandbox.faults.add(Fault {
        verb: "POST".into(),
        path: "/configmaps".into(),
        status: 500,
        count: 2,
        message: None,
    });
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    for _ in 0..2 {
        let err = api_err(api.create(&PostParams::default(), &cm).await.unwrap_err());
        assert_eq!(err.code, 500, "{err:?}");
        assert!(err.message.contains("injected fault: 500"), "{err:?}");
    }
    api.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(w.sandbox.faults.served(), 2);
    // A PATCH is told from a PUT (both are UPDATEs to admission), and a 409 comes through.
    w.sandbox.faults.add(Fault {
        verb: "PATCH".into(),
        path: format!("/namespaces/{ns}/configmaps/c"),
        status: 409,
        count: 1,
        message: Some("someone else wrote it".into()),
    });
    let patch = kube::api::Patch::Merge(json!({"data": {"k": "v"}}));
    let err = api_err(
        api.patch("c", &Default::default(), &patch)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.contains("someone else wrote it")),
        (409, true),
        "{err:?}"
    );
    api.patch("c", &Default::default(), &patch).await.unwrap();
    // The sandbox's own controllers (another identity) are never faulted.
    w.sandbox.faults.add(Fault {
        verb: "*".into(),
        path: "/configmaps".into(),
        status: 500,
        count: 1,
        message: None,
    });
    let own = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "own", "namespace": ns}});
    w.sandbox
        .api
        .create_obj(&own, "test")
        .expect("the world's write is not faulted");
    assert_eq!(w.sandbox.faults.pending(), 1);
}

#[tokio::test(flavor = "multi_thread")]
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
    let mut killed = false;
    for _ in 0..50 {
        killed = cnpgops_sandbox::node::pods::kill(&ns, &name);
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
