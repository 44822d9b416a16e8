//! `job_next`: what following a Job's run (its Pod's log, then its outcome) should do next,
//! judged from the Job, its Pods and the Events about it as watched: it has ended, a Pod not
//! followed yet has started (follow its log), its Pod will never start or has failed
//! (`pod_start::job_started`: fail fast with the cluster's reason), or wait.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;

use super::pod_start::job_started;
use super::{pod_phase, Check};
use crate::k8s::job::{outcome, Outcome};

/// What to do next while following a Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// The Job has an outcome (its `Complete` or `Failed` condition, or the Pod that completes
    /// it has succeeded).
    Ended(Outcome),
    /// This Pod has started and its log is not followed yet.
    Follow(String),
    /// Its Pod cannot be created or started, or failed: why, and whether any Pod ran (one that
    /// never ran leaves nothing behind).
    Stuck { why: String, ran: bool },
    /// Nothing to do yet: what it is now.
    Wait(String),
    /// The Job is not there (deleted while followed).
    Gone,
}

/// What following `job` (`None`: not found) should do next, given its Pods, the Events about
/// it, the Pod whose log is already followed, and the time (for the Unschedulable grace).
pub(crate) fn job_next(
    job: Option<&Job>,
    pods: &[&Pod],
    events: &[&Event],
    followed: Option<&str>,
    now: Timestamp,
) -> Next {
    let Some(job) = job else {
        return Next::Gone;
    };
    if let Some(done) = outcome(job) {
        return Next::Ended(done);
    }
    if single_completion(job) && pods.iter().any(|p| pod_phase(p) == Some("Succeeded")) {
        // Its one completion is done: the job controller's `Complete` follows (it batches Pod
        // updates for a second), nothing can undo the Pod's success.
        return Next::Ended(Outcome::Complete);
    }
    let pods: Vec<Pod> = pods.iter().map(|p| (*p).clone()).collect();
    let events: Vec<Event> = events.iter().map(|e| (*e).clone()).collect();
    match job_started(job, &pods, &events, now) {
        Check::Never(why) => Next::Stuck {
            why,
            ran: ran(&pods),
        },
        Check::Ok => match newest(&pods).filter(|p| Some(p.as_str()) != followed) {
            Some(pod) => Next::Follow(pod),
            None => Next::Wait("its Pod's log has ended; waiting for the Job's outcome".into()),
        },
        Check::Pending(now) => Next::Wait(now),
    }
}

/// The outcome of a Job found on resume (not followed): its condition, or what its Pods have
/// already decided while the job controller, slow under load, has not written it yet — its one
/// completion succeeded, or its Pod ran and failed (the product's Jobs have `backoffLimit: 0`:
/// no other Pod follows). `None` while it runs or may still start (follow it then: a Pod that
/// never starts is judged, and the Job deleted, by the follow).
pub(crate) fn decided(job: &Job, pods: &[&Pod]) -> Option<Outcome> {
    let no_retry = job.spec.as_ref().and_then(|s| s.backoff_limit) == Some(0);
    match job_next(Some(job), pods, &[], None, Timestamp::now()) {
        Next::Ended(done) => Some(done),
        Next::Stuck { why, ran: true } if no_retry => Some(Outcome::Failed(why)),
        _ => None,
    }
}

/// A Job done by one successful Pod: one completion (the default), not indexed.
fn single_completion(job: &Job) -> bool {
    job.spec.as_ref().is_none_or(|s| {
        s.completions.unwrap_or(1) == 1 && s.completion_mode.as_deref() != Some("Indexed")
    })
}

/// Whether any of the Pods ran.
fn ran(pods: &[Pod]) -> bool {
    pods.iter()
        .any(|p| matches!(pod_phase(p), Some("Running" | "Succeeded" | "Failed")))
}

/// The name of the most recent Pod (by creation), if any.
pub(crate) fn newest(pods: &[Pod]) -> Option<String> {
    pods.iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
        .and_then(|p| p.metadata.name.clone())
}

#[cfg(test)]
mod tests;
