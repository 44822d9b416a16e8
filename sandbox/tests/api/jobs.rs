//! Jobs and Pods run as local processes: env from Secrets, logs, exit codes, Job conditions,
//! backoffLimit, activeDeadlineSeconds, missing config, Service DNS names, volumes, deletion
//! killing the process; Deployments' pods follow `replicas`.
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions, Condition};
use kube::Api;
use serde_json::json;

use crate::harness::{start, World};

fn job(name: &str, script: &str, extra: serde_json::Value) -> Job {
    let mut j = json!({"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "main", "image": "ghcr.io/cloudnative-pg/postgresql:15", "command": ["/bin/sh", "-c", script]}]}}}});
    json_patch::merge(&mut j, &extra);
    serde_json::from_value(j).unwrap()
}

fn failed() -> impl Condition<Job> {
    |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Failed" && c.status == "True"))
    }
}

async fn pod_of(w: &World, ns: &str, job: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), ns);
    for _ in 0..100 {
        if let Some(p) = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no pod for job {job}");
}

async fn within<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("in time")
}

#[tokio::test(flavor = "multi_thread")]
async fn job_runs_with_secret_env_and_completes() {
    let w = start().await;
    let ns = w.namespace("jobs").await;
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "creds"}, "stringData": {"password": "s3cr3t-value"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let env = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "x", "command": ["/bin/sh", "-c", "echo hello $(WHO); echo len=${#PASSWORD}; echo to-stderr >&2"],
        "env": [{"name": "WHO", "value": "world"}, {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}]}]}}}});
    jobs.create(&PostParams::default(), &job("ok", "", env))
        .await
        .unwrap();
    let done = within(
        20,
        await_condition(jobs.clone(), "ok", conditions::is_job_completed()),
    )
    .await
    .unwrap()
    .unwrap();
    let status = done.status.unwrap();
    assert_eq!((status.succeeded, status.failed.unwrap_or(0)), (Some(1), 0));
    assert!(status.completion_time.is_some());
    let pod = pod_of(&w, &ns, "ok").await;
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    let term = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let logs = pods
        .logs(pod.metadata.name.as_deref().unwrap(), &LogParams::default())
        .await
        .unwrap();
    assert!(
        logs.contains("hello world") && logs.contains("len=12") && logs.contains("to-stderr"),
        "{logs}"
    );
    assert!(
        !logs.contains("s3cr3t"),
        "the secret is only in the environment"
    );
    assert_eq!(pod.metadata.owner_references.unwrap()[0].kind, "Job");
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_job_reports_exit_code_and_backoff_limit() {
    let w = start().await;
    let ns = w.namespace("jobs").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "bad",
            "echo migrating; echo 'ERROR: relation missing' >&2; exit 3",
            json!({}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(failed_reason(&jobs, "bad").await, "BackoffLimitExceeded");
    let pod = pod_of(&w, &ns, "bad").await;
    let term = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((term.exit_code, term.reason.as_deref()), (3, Some("Error")));
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_up_to_backoff_limit() {
    let w = start().await;
    let ns = w.namespace("jobs").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &job("flaky", "exit 1", json!({"spec": {"backoffLimit": 2}})),
    )
    .await
    .unwrap();
    // The real Job controller backs off between attempts (10 s, 20 s, ...).
    let done = within(120, await_condition(jobs.clone(), "flaky", failed()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status.unwrap().failed, Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_secret_is_a_config_error_until_it_exists() {
    let w = start().await;
    let ns = w.namespace("jobs").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let env = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "x", "command": ["/bin/sh", "-c", "echo got $K"],
        "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "later", "key": "k"}}}]}]}}}});
    jobs.create(&PostParams::default(), &job("wait", "", env))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let name = pod_of(&w, &ns, "wait").await.metadata.name.unwrap();
    let waiting = within(
        10,
        await_condition(pods.clone(), &name, |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c[0].state.as_ref())
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let msg = waiting.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert_eq!(msg, "secret \"later\" not found");
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "later"}, "stringData": {"k": "v"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    within(
        20,
        await_condition(jobs, "wait", conditions::is_job_completed()),
    )
    .await
    .unwrap();
    assert_eq!(
        pods.logs(&name, &LogParams::default()).await.unwrap(),
        "got v\n"
    );
}

fn running(marker: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn deadline_and_deletion_kill_the_process() {
    let w = start().await;
    let ns = w.namespace("jobs").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "slow",
            "sleep 301.5",
            json!({"spec": {"activeDeadlineSeconds": 1}}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(failed_reason(&jobs, "slow").await, "DeadlineExceeded");
    process_gone("sleep 301.5").await;

    jobs.create(
        &PostParams::default(),
        &job("doomed", "sleep 302.5", json!({})),
    )
    .await
    .unwrap();
    process_started("sleep 302.5").await;
    jobs.delete("doomed", &DeleteParams::background())
        .await
        .unwrap();
    within(15, async {
        while running("sleep 302.5") {
            tokio::time::sleep(Duration::from_millis(100)).await
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn service_names_resolve_and_volumes_mount() {
    let w = start().await;
    let ns = w.namespace("dns").await;
    let svcs: Api<Service> = Api::namespaced(w.client.clone(), &ns);
    let svc = json!({"metadata": {"name": "db-rw", "annotations": {"sandbox.cnpgops.io/address": "127.10.0.77:5432"}}, "spec": {"ports": [{"port": 5432}]}});
    svcs.create(
        &PostParams::default(),
        &serde_json::from_value(svc).unwrap(),
    )
    .await
    .unwrap();
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let script = "getent hosts db-rw; getent hosts db-rw.dns.svc.cluster.local; echo data > /scratch-cnpgops-test/f; cat /scratch-cnpgops-test/f";
    let extra = json!({"spec": {"template": {"spec": {"volumes": [{"name": "scratch", "emptyDir": {}}],
        "containers": [{"name": "main", "image": "x", "command": ["/bin/sh", "-c", script], "volumeMounts": [{"name": "scratch", "mountPath": "/scratch-cnpgops-test"}]}]}}}});
    jobs.create(&PostParams::default(), &job("dns", "", extra))
        .await
        .unwrap();
    within(
        20,
        await_condition(jobs, "dns", conditions::is_job_completed()),
    )
    .await
    .unwrap();
    let pod = pod_of(&w, &ns, "dns").await;
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let logs = pods
        .logs(pod.metadata.name.as_deref().unwrap(), &LogParams::default())
        .await
        .unwrap();
    assert_eq!(logs.matches("127.10.0.77").count(), 2, "{logs}");
    assert!(logs.contains("data"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deployment_pods_follow_replicas() {
    let w = start().await;
    let ns = w.namespace("web").await;
    let deps: Api<Deployment> = Api::namespaced(w.client.clone(), &ns);
    let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "payload"}]}}}});
    deps.create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let count = |n: usize| {
        let pods = pods.clone();
        async move {
            loop {
                let l = pods
                    .list(&ListParams::default().labels("app=web"))
                    .await
                    .unwrap()
                    .items;
                if l.len() == n
                    && l.iter().all(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    })
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    within(10, count(2)).await;
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    within(10, count(0)).await;
    within(10, async {
        while deps
            .get("web")
            .await
            .unwrap()
            .status
            .and_then(|s| s.replicas)
            .unwrap_or(0)
            != 0
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_created_after_the_pod_started_resolves() {
    let w = start().await;
    let ns = w.namespace("late").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "waiter",
            "until getent hosts db-late; do sleep 0.2; done; getent hosts db-late",
            json!({}),
        ),
    )
    .await
    .unwrap();
    let pod = pod_of(&w, &ns, "waiter").await;
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    let running = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Running")
    };
    within(
        10,
        await_condition(pods.clone(), pod.metadata.name.as_deref().unwrap(), running),
    )
    .await
    .unwrap();
    let svcs: Api<Service> = Api::namespaced(w.client.clone(), &ns);
    let svc = json!({"metadata": {"name": "db-late", "annotations": {"sandbox.cnpgops.io/address": "127.10.0.78:5432"}}, "spec": {"ports": [{"port": 5432}]}});
    svcs.create(
        &PostParams::default(),
        &serde_json::from_value(svc).unwrap(),
    )
    .await
    .unwrap();
    within(
        20,
        await_condition(jobs, "waiter", conditions::is_job_completed()),
    )
    .await
    .unwrap();
    let logs = pods
        .logs(pod.metadata.name.as_deref().unwrap(), &LogParams::default())
        .await
        .unwrap();
    assert!(logs.contains("127.10.0.78"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_sandbox_kills_the_pods_processes() {
    let w = start().await;
    let ns = w.namespace("stop").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &job("long", "sleep 305.5", json!({})),
    )
    .await
    .unwrap();
    process_started("sleep 305.5").await;
    w.sandbox.stop().await;
    process_gone("sleep 305.5").await;
}

/// The reason of a Job's `Failed` condition, once it has one.
async fn failed_reason(jobs: &Api<Job>, name: &str) -> String {
    let done = within(20, await_condition(jobs.clone(), name, failed()))
        .await
        .unwrap()
        .unwrap();
    let conds = done.status.unwrap().conditions.unwrap();
    conds
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .and_then(|c| c.reason)
        .unwrap_or_default()
}

async fn process_started(marker: &str) {
    within(10, async {
        while !running(marker) {
            tokio::time::sleep(Duration::from_millis(100)).await
        }
    })
    .await;
}

async fn process_gone(marker: &str) {
    within(15, async {
        while running(marker) {
            tokio::time::sleep(Duration::from_millis(100)).await
        }
    })
    .await;
}
