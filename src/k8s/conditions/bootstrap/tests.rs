//! `bootstrap_failing` on a recovery Job and its Pods as CNPG and Kubernetes leave them.

use super::*;

fn now() -> Timestamp {
    "2026-12-05T10:10:00Z".parse().unwrap()
}

fn job(conditions: &str) -> Job {
    serde_saphyr::from_str(&format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: db-1-full-recovery, namespace: d, uid: job-uid, labels: {{cnpg.io/cluster: db}}}}\nspec: {{template: {{spec: {{containers: []}}}}}}\nstatus: {{conditions: {conditions}}}\n"
    ))
    .unwrap()
}

fn pod(name: &str, created: &str, status: &str) -> Pod {
    serde_saphyr::from_str(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: d, creationTimestamp: '{created}', ownerReferences: [{{apiVersion: batch/v1, kind: Job, name: db-1-full-recovery, uid: job-uid}}]}}\nspec: {{containers: [{{name: full-recovery, image: pg}}]}}\nstatus: {status}\n"
    ))
    .unwrap()
}

fn failed(name: &str, created: &str) -> Pod {
    pod(
        name,
        created,
        "{phase: Failed, containerStatuses: [{name: full-recovery, image: pg, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 1, reason: Error, message: 'while restoring: no target backup found'}}}]}",
    )
}

#[test]
fn a_running_recovery_or_one_failure_is_not_yet_failing() {
    let running = pod(
        "db-1-full-recovery-a",
        "2026-12-05T10:00:00Z",
        "{phase: Running}",
    );
    assert_eq!(bootstrap_failing(&[job("[]")], &[running], now()), None);
    let once = failed("db-1-full-recovery-a", "2026-12-05T10:00:00Z");
    let retry = pod(
        "db-1-full-recovery-b",
        "2026-12-05T10:01:00Z",
        "{phase: Running}",
    );
    assert_eq!(bootstrap_failing(&[job("[]")], &[once, retry], now()), None);
    assert_eq!(bootstrap_failing(&[], &[], now()), None);
}

#[test]
fn failing_pods_while_cnpg_retries_name_cnpgs_reason() {
    let pods = [
        failed("db-1-full-recovery-a", "2026-12-05T10:00:00Z"),
        failed("db-1-full-recovery-b", "2026-12-05T10:01:00Z"),
    ];
    let why = bootstrap_failing(&[job("[]")], &pods, now())
        .expect("failing")
        .reason;
    assert!(
        why.starts_with(
            "its Job d/db-1-full-recovery keeps failing while CNPG retries (2 failed Pods)"
        ),
        "{why}"
    );
    assert!(why.contains("Pod d/db-1-full-recovery-b failed: container full-recovery Error (exit code 1): while restoring: no target backup found"), "{why}");
}

#[test]
fn a_failed_job_or_a_stuck_pod_is_failing() {
    let done = job("[{type: Failed, status: 'True', reason: BackoffLimitExceeded, message: 'Job has reached the specified backoff limit'}]");
    let found = bootstrap_failing(&[done], &[], now()).expect("failed");
    assert_eq!(found.job, "db-1-full-recovery");
    let why = found.reason;
    assert!(
        why.contains("its Job d/db-1-full-recovery failed (BackoffLimitExceeded"),
        "{why}"
    );
    let stuck = pod(
        "db-1-full-recovery-a",
        "2026-12-05T10:00:00Z",
        "{phase: Pending, containerStatuses: [{name: full-recovery, image: pg, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image'}}}]}",
    );
    let why = bootstrap_failing(&[job("[]")], &[stuck], now())
        .expect("stuck")
        .reason;
    assert!(
        why.contains(
            "cannot start: Pod d/db-1-full-recovery-a: container full-recovery is ImagePullBackOff"
        ),
        "{why}"
    );
}

#[test]
fn pods_of_other_jobs_do_not_count() {
    let mut other = failed("x-a", "2026-12-05T10:00:00Z");
    other.metadata.owner_references.as_mut().unwrap()[0].uid = "other".into();
    let mut other2 = failed("x-b", "2026-12-05T10:01:00Z");
    other2.metadata.owner_references = None;
    assert_eq!(
        bootstrap_failing(&[job("[]")], &[other, other2], now()),
        None
    );
}
