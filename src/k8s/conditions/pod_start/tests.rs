//! `job_started` on Job, Pod and Event objects as the API server returns them: ok, pending,
//! and never for each way a Pod cannot be created or started.

use super::*;

const NOW: &str = "2026-12-05T10:10:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn job() -> Job {
    serde_saphyr::from_str(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: refresh-1, namespace: databases, uid: job-uid}\nspec: {template: {spec: {containers: []}}}\nstatus: {active: 1}\n",
    )
    .unwrap()
}

fn pod(status: &str) -> Pod {
    serde_saphyr::from_str(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: refresh-1-x7k2p, namespace: databases, creationTimestamp: '2026-12-05T10:00:00Z'}}\nspec: {{containers: [{{name: refresh, image: pg}}]}}\nstatus: {status}\n"
    ))
    .unwrap()
}

fn waiting(reason: &str, message: &str) -> Pod {
    pod(&format!(
        "{{phase: Pending, containerStatuses: [{{name: refresh, image: pg, imageID: '', ready: false, restartCount: 0, state: {{waiting: {{reason: {reason}, message: '{message}'}}}}}}]}}"
    ))
}

fn event(reason: &str, kind: &str, name: &str, uid: &str, message: &str) -> Event {
    serde_saphyr::from_str(&format!(
        "apiVersion: v1\nkind: Event\nmetadata: {{name: e1, namespace: databases}}\ninvolvedObject: {{kind: {kind}, name: {name}, namespace: databases, uid: {uid}}}\nreason: {reason}\nmessage: '{message}'\ntype: Warning\ncount: 3\nlastTimestamp: '2026-12-05T10:05:00Z'\n"
    ))
    .unwrap()
}

fn never(check: Check) -> String {
    match check {
        Check::Never(why) => why,
        other => panic!("expected never, got {other:?}"),
    }
}

#[test]
fn a_running_or_finished_pod_has_started() {
    assert_eq!(
        job_started(&job(), &[pod("{phase: Running}")], &[], now()),
        Check::Ok
    );
    assert_eq!(
        job_started(&job(), &[pod("{phase: Succeeded}")], &[], now()),
        Check::Ok
    );
}

#[test]
fn no_pod_yet_or_a_pod_being_created_is_pending() {
    assert!(
        matches!(job_started(&job(), &[], &[], now()), Check::Pending(m) if m.contains("no Pod yet"))
    );
    let creating = waiting("ContainerCreating", "");
    assert!(matches!(
        job_started(&job(), &[creating], &[], now()),
        Check::Pending(_)
    ));
    // An Event about another object is not about this Job.
    let other = event(FAILED_CREATE, "Job", "someone-else", "x", "exceeded quota");
    assert!(matches!(
        job_started(&job(), &[], &[other], now()),
        Check::Pending(_)
    ));
    let old_job = event(
        FAILED_CREATE,
        "Job",
        "refresh-1",
        "old-uid",
        "exceeded quota",
    );
    assert!(
        matches!(
            job_started(&job(), &[], &[old_job], now()),
            Check::Pending(_)
        ),
        "a deleted Job of the same name"
    );
}

#[test]
fn a_quota_refusal_names_the_job_and_the_quota() {
    let quota = event(
        FAILED_CREATE,
        "Job",
        "refresh-1",
        "job-uid",
        "Error creating: pods \"refresh-1-abcde\" is forbidden: exceeded quota: small, requested: memory=256Mi, used: memory=0, limited: memory=1Mi",
    );
    let why = never(job_started(&job(), &[], &[quota], now()));
    assert!(
        why.starts_with("Job databases/refresh-1 cannot create its Pod (FailedCreate, 3 times)"),
        "{why}"
    );
    assert!(why.contains("exceeded quota: small"), "{why}");
}

#[test]
fn a_pod_security_refusal_is_never() {
    let pss = event(
        FAILED_CREATE,
        "Job",
        "refresh-1",
        "job-uid",
        "Error creating: pods \"refresh-1-abcde\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false",
    );
    let why = never(job_started(&job(), &[], &[pss], now()));
    assert!(why.contains("violates PodSecurity"), "{why}");
}

#[test]
fn image_and_config_errors_are_never() {
    for reason in WAITING_FAILURES {
        let stuck = waiting(reason, "Back-off pulling image pg");
        let why = never(job_started(&job(), &[stuck], &[], now()));
        assert!(
            why.starts_with("Pod databases/refresh-1-x7k2p: container refresh is "),
            "{why}"
        );
        assert!(why.contains(reason), "{why}");
    }
}

#[test]
fn unschedulable_is_never_after_the_grace() {
    let unschedulable = |since: &str| {
        pod(&format!(
            "{{phase: Pending, conditions: [{{type: PodScheduled, status: 'False', reason: Unschedulable, lastTransitionTime: '{since}', message: '0/3 nodes are available: 3 Insufficient memory.'}}]}}"
        ))
    };
    let fresh = unschedulable("2026-12-05T10:09:30Z");
    assert!(
        matches!(job_started(&job(), &[fresh], &[], now()), Check::Pending(m) if m.contains("Unschedulable (30s)"))
    );
    let stale = unschedulable("2026-12-05T10:08:00Z");
    let why = never(job_started(&job(), &[stale], &[], now()));
    assert!(
        why.contains("cannot be scheduled (Unschedulable for 120s): 0/3 nodes are available"),
        "{why}"
    );
}

#[test]
fn a_failed_pod_names_its_termination_message() {
    let failed = pod(
        "{phase: Failed, containerStatuses: [{name: refresh, image: pg, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 2, reason: Error, message: 'pg_dump: error: connection failed'}}}]}",
    );
    let why = never(job_started(&job(), &[failed], &[], now()));
    assert_eq!(
        why,
        "Pod databases/refresh-1-x7k2p failed: container refresh Error (exit code 2): pg_dump: error: connection failed"
    );
    let evicted = pod("{phase: Failed, reason: Evicted, message: 'Pod ephemeral local storage usage exceeds the total limit'}");
    let why = never(job_started(&job(), &[evicted], &[], now()));
    assert!(
        why.contains("Evicted: Pod ephemeral local storage"),
        "{why}"
    );
}

#[test]
fn the_newest_pod_is_judged() {
    let mut old = waiting("ImagePullBackOff", "gone");
    old.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-12-05T09:00:00Z".parse().unwrap(),
    ));
    assert_eq!(
        job_started(&job(), &[old, pod("{phase: Running}")], &[], now()),
        Check::Ok
    );
}
