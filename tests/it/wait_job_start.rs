//! `kube.wait` for `job_complete` on a Job whose Pod cannot be created (a FailedCreate Event on
//! the Job, written here as the Job controller writes it under a quota) or cannot start (a
//! Secret that does not exist: CreateContainerConfigError from the node): the wait fails in
//! seconds naming the reason and the object, not at its 10-minute timeout.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::World;
use crate::sandbox::Kube;

const RUNBOOK: &str = r#"
name: wait-job
summary: wait for a Job
params:
  - name: job
    type: string
    required: true
steps:
  - id: wait
    uses: kube.wait
    with:
      kind: Job
      apiVersion: batch/v1
      namespace: jobs
      name: "{{ params.job }}"
      condition: job_complete
      timeout: 10m
"#;

fn job(kube: &Kube, name: &str, suspend: bool, secret: &str) {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "jobs"},
        "spec": {"suspend": suspend, "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "work", "image": "busybox", "command": ["/bin/sh", "-c", "true"],
                "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}]}]}}}});
    kube.create(&serde_json::to_string(&job).unwrap());
}

fn wait(kube: &Kube, w: &World, name: &str) -> (crate::harness::Ran, Duration) {
    let file = w.path("wait-job.yaml");
    std::fs::write(&file, RUNBOOK).unwrap();
    let t0 = Instant::now();
    let ran = kube.run(
        w,
        &["run", file.to_str().unwrap(), "-p", &format!("job={name}")],
    );
    (ran, t0.elapsed())
}

#[test]
fn a_job_whose_pod_cannot_be_created_or_started_fails_the_wait_in_seconds() {
    let (kube, w) = (Kube::plain(), World::new());
    kube.namespace("jobs");

    // No Pod (suspended, as a refused create leaves it); the controller's FailedCreate Event.
    job(&kube, "quota", true, "app-secret");
    let uid = kube.get("Job", "jobs", "quota").unwrap()["metadata"]["uid"].clone();
    let event = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "quota.1", "namespace": "jobs"},
        "involvedObject": {"apiVersion": "batch/v1", "kind": "Job", "namespace": "jobs", "name": "quota", "uid": uid},
        "reason": "FailedCreate", "type": "Warning", "count": 4,
        "message": "Error creating: pods \"quota-x7k2p\" is forbidden: exceeded quota: tiny, requested: memory=256Mi, used: memory=0, limited: memory=1Mi",
        "source": {"component": "job-controller"}});
    kube.create(&serde_json::to_string(&event).unwrap());
    let (ran, took) = wait(&kube, &w, "quota");
    ran.code(4);
    assert!(took < Duration::from_secs(60), "{took:?}");
    ran.says(&[
        "Job jobs/quota will not complete",
        "cannot create its Pod (FailedCreate, 4 times)",
        "exceeded quota: tiny",
    ]);

    // A Pod whose Secret is missing: the node reports CreateContainerConfigError.
    job(&kube, "config", false, "no-such-secret");
    let (ran, took) = wait(&kube, &w, "config");
    ran.code(4);
    assert!(took < Duration::from_secs(60), "{took:?}");
    ran.says(&[
        "Job jobs/config will not complete",
        "container work is CreateContainerConfigError",
        "no-such-secret",
    ]);
}
