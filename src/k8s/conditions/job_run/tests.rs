//! `job_next` on a Job, its Pods and Events as YAML: ok (ended, follow), pending, missing,
//! and stuck (never) with and without a Pod that ran.

use super::*;

fn now() -> Timestamp {
    "2026-12-05T10:10:00Z".parse().unwrap()
}

fn job(status: &str) -> Job {
    serde_saphyr::from_str(&format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: refresh-1, namespace: databases, uid: job-uid}}\nspec: {{template: {{spec: {{containers: []}}}}}}\nstatus: {status}\n"
    ))
    .unwrap()
}

fn pod(name: &str, phase: &str) -> Pod {
    serde_saphyr::from_str(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: databases, creationTimestamp: '2026-12-05T10:00:00Z'}}\nspec: {{containers: [{{name: refresh, image: pg}}]}}\nstatus: {{phase: {phase}}}\n"
    ))
    .unwrap()
}

fn failed_create() -> Event {
    serde_saphyr::from_str(
        "apiVersion: v1\nkind: Event\nmetadata: {name: e1, namespace: databases}\ninvolvedObject: {kind: Job, name: refresh-1, namespace: databases, uid: job-uid}\nreason: FailedCreate\nmessage: 'exceeded quota: pods'\ntype: Warning\ncount: 1\nlastTimestamp: '2026-12-05T10:05:00Z'\n",
    )
    .unwrap()
}

#[test]
fn ok_an_ended_job_or_a_started_pod_to_follow() {
    let complete = job("{conditions: [{type: Complete, status: 'True'}]}");
    assert_eq!(
        job_next(Some(&complete), &[], &[], None, now()),
        Next::Ended(Outcome::Complete)
    );
    let running = pod("refresh-1-a", "Running");
    let active = job("{active: 1}");
    assert_eq!(
        job_next(Some(&active), &[&running], &[], None, now()),
        Next::Follow("refresh-1-a".into())
    );
}

#[test]
fn pending_until_a_pod_starts_or_while_the_followed_one_ends() {
    let active = job("{active: 1}");
    assert!(matches!(
        job_next(Some(&active), &[], &[], None, now()),
        Next::Wait(w) if w.contains("has no Pod yet")
    ));
    let pending = pod("refresh-1-a", "Pending");
    assert!(matches!(
        job_next(Some(&active), &[&pending], &[], None, now()),
        Next::Wait(_)
    ));
    let done = pod("refresh-1-a", "Succeeded");
    assert_eq!(
        job_next(Some(&active), &[&done], &[], Some("refresh-1-a"), now()),
        Next::Ended(Outcome::Complete),
        "its one Pod succeeded: done before the job controller says so"
    );
    // A Job of several completions is not done by one Pod.
    let three = serde_saphyr::from_str::<Job>(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: refresh-1, namespace: databases, uid: job-uid}\nspec: {completions: 3, template: {spec: {containers: []}}}\nstatus: {active: 1}\n",
    )
    .unwrap();
    assert!(matches!(
        job_next(Some(&three), &[&done], &[], Some("refresh-1-a"), now()),
        Next::Wait(_)
    ));
}

#[test]
fn missing_job_is_gone() {
    assert_eq!(job_next(None, &[], &[], None, now()), Next::Gone);
}

#[test]
fn never_a_pod_that_cannot_be_created_or_has_failed() {
    let active = job("{active: 1}");
    let event = failed_create();
    let Next::Stuck { why, ran } = job_next(Some(&active), &[], &[&event], None, now()) else {
        panic!("stuck expected")
    };
    assert!(
        why.contains("FailedCreate") && why.contains("exceeded quota"),
        "{why}"
    );
    assert!(!ran);
    let failed = pod("refresh-1-a", "Failed");
    assert!(matches!(
        job_next(Some(&active), &[&failed], &[], None, now()),
        Next::Stuck { ran: true, .. }
    ));
}

#[test]
fn decided_by_its_pods_before_the_job_controller_writes_the_condition() {
    let active = job("{active: 1}");
    let no_retry = |j: &Job| {
        let mut j = j.clone();
        j.spec.as_mut().unwrap().backoff_limit = Some(0);
        j
    };
    let failed = pod("refresh-1-a", "Failed");
    let running = pod("refresh-1-a", "Running");
    let succeeded = pod("refresh-1-a", "Succeeded");
    assert!(matches!(
        decided(&no_retry(&active), &[&failed]),
        Some(Outcome::Failed(why)) if why.contains("refresh-1-a failed")
    ));
    assert_eq!(decided(&active, &[&failed]), None, "another Pod may follow");
    assert_eq!(decided(&no_retry(&active), &[&running]), None);
    assert_eq!(decided(&no_retry(&active), &[]), None, "may still start");
    assert_eq!(
        decided(&no_retry(&active), &[&succeeded]),
        Some(Outcome::Complete)
    );
    let complete = job("{conditions: [{type: Complete, status: 'True'}]}");
    assert_eq!(decided(&complete, &[&failed]), Some(Outcome::Complete));
}
