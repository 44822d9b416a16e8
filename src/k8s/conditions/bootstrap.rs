//! `bootstrap_failing`: whether a CNPG Cluster's bootstrap Jobs (`<cluster>-1-full-recovery`,
//! `-initdb`, ...) show it will not become healthy, while CNPG is still retrying.
//!
//! CNPG leaves the recovery Job's `backoffLimit` unset (Kubernetes' 6: seven attempts, backoff
//! 10 s to 6 min, each downloading the base backup again), and the Cluster stays "Setting up
//! primary" meanwhile. So failed Pods appear long before the Job fails: [`FAILED_PODS`] failed
//! Pods of one Job, a Pod that cannot start, or a failed Job all settle the wait, naming the
//! Job and the last Pod's termination message (CNPG's reason).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::pod_start::pod_started;
use super::{pod_phase, Check};
use crate::k8s::job::{outcome, Outcome};

/// Failed Pods of one bootstrap Job after which the recovery "keeps failing" (a first failure
/// may be a passing S3 or network error that CNPG's retry gets past).
pub(crate) const FAILED_PODS: usize = 2;

/// A bootstrap Job that shows the Cluster will not become healthy, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failing {
    /// The Job's name.
    pub job: String,
    /// `its Job NS/NAME ...`, with the last failed Pod's reason.
    pub reason: String,
}

/// Why the Cluster's bootstrap will not succeed, if its Jobs and Pods already say so.
pub(crate) fn bootstrap_failing(jobs: &[Job], pods: &[Pod], now: Timestamp) -> Option<Failing> {
    jobs.iter().find_map(|job| {
        job_failing(job, pods, now).map(|reason| Failing {
            job: job.metadata.name.clone().unwrap_or_default(),
            reason,
        })
    })
}

fn job_failing(job: &Job, pods: &[Pod], now: Timestamp) -> Option<String> {
    let name = format!(
        "{}/{}",
        job.metadata.namespace.as_deref().unwrap_or_default(),
        job.metadata.name.as_deref().unwrap_or_default()
    );
    let mine: Vec<&Pod> = pods.iter().filter(|p| owned_by(p, job)).collect();
    let last_failure = |pods: &[&Pod]| {
        pods.iter()
            .filter(|p| pod_phase(p) == Some("Failed"))
            .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
            .and_then(|p| match pod_started(p, now) {
                Check::Never(why) => Some(why),
                _ => None,
            })
    };
    if let Some(Outcome::Failed(why) | Outcome::NotStarted(why)) = outcome(job) {
        let pod = last_failure(&mine)
            .map(|p| format!("; {p}"))
            .unwrap_or_default();
        return Some(format!("its Job {name} failed ({why}){pod}"));
    }
    let failed = mine
        .iter()
        .filter(|p| pod_phase(p) == Some("Failed"))
        .count();
    if failed >= FAILED_PODS {
        let why = last_failure(&mine).unwrap_or_default();
        return Some(format!(
            "its Job {name} keeps failing while CNPG retries ({failed} failed Pods); the last: {why}"
        ));
    }
    let newest = mine
        .iter()
        .filter(|p| pod_phase(p) != Some("Failed"))
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))?;
    match pod_started(newest, now) {
        Check::Never(why) => Some(format!("its Job {name} cannot start: {why}")),
        _ => None,
    }
}

fn owned_by(pod: &Pod, job: &Job) -> bool {
    let uid = job.metadata.uid.as_deref();
    uid.is_some()
        && pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "Job" && Some(o.uid.as_str()) == uid)
}

#[cfg(test)]
mod tests;
