//! `job_started`: whether a Job's Pod has started, is still on its way, or never will — judged
//! from the Job, its Pods and the Events about the Job, as `kubectl describe` would show them.
//!
//! A Pod that cannot be created shows only as `FailedCreate` Events on the Job (a ResourceQuota,
//! PodSecurity "violates PodSecurity", another admission webhook) while the Job stays active;
//! a Pod that cannot start stays Pending with a container waiting (`ErrImagePull`,
//! `ImagePullBackOff`, `CreateContainerConfigError`, `InvalidImageName`) or is `Unschedulable`.
//! Each of these is [`Check::Never`], naming the reason and the object, so a wait ends in
//! seconds instead of at the Job's deadline.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use k8s_openapi::jiff::Timestamp;

use super::Check;

/// Container waiting reasons that do not resolve by waiting.
pub(crate) const WAITING_FAILURES: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
];

/// How long a Pod may be `Unschedulable` (a cluster autoscaler adding a node) before it counts.
pub(crate) const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(60);

/// The Event reason the Job controller records when it cannot create a Pod.
pub(crate) const FAILED_CREATE: &str = "FailedCreate";

/// Whether the newest Pod of `job` has started (`Ok`), may still start (`Pending`), or never will
/// (`Never`). `pods` are the Job's Pods, `events` any Events (those about other objects are
/// ignored), `now` the current time (for the Unschedulable grace).
pub(crate) fn job_started(job: &Job, pods: &[Pod], events: &[Event], now: Timestamp) -> Check {
    let newest = pods
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    if let Some(pod) = newest {
        return pod_started(pod, now);
    }
    match failed_create(job, events) {
        Some(why) => Check::Never(why),
        None => Check::Pending(format!("{} has no Pod yet", object(job))),
    }
}

/// One Pod: `Ok` once running or finished successfully, `Never` when failed or stuck.
pub(crate) fn pod_started(pod: &Pod, now: Timestamp) -> Check {
    let name = pod_object(pod);
    let Some(status) = &pod.status else {
        return Check::Pending(format!("{name}: no status yet"));
    };
    let phase = status.phase.as_deref().unwrap_or("Pending");
    if phase == "Failed" {
        return Check::Never(format!("{name} failed: {}", failure(pod)));
    }
    if phase == "Running" || phase == "Succeeded" {
        return Check::Ok;
    }
    let containers = status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten();
    for c in containers {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if WAITING_FAILURES.contains(&reason) {
            return Check::Never(format!(
                "{name}: container {} is {reason}: {}",
                c.name,
                waiting.message.as_deref().unwrap_or("no message")
            ));
        }
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(c) = unschedulable {
        let since = c.last_transition_time.as_ref().map(|t| t.0).unwrap_or(now);
        let for_secs = (now.as_second() - since.as_second()).max(0) as u64;
        let message = c.message.as_deref().unwrap_or("no message");
        if for_secs >= UNSCHEDULABLE_GRACE.as_secs() {
            return Check::Never(format!(
                "{name} cannot be scheduled (Unschedulable for {for_secs}s): {message}"
            ));
        }
        return Check::Pending(format!("{name} is Unschedulable ({for_secs}s): {message}"));
    }
    Check::Pending(format!("{name} is {phase}"))
}

/// The `FailedCreate` Events about `job` (by UID when the Event has one), newest message and
/// count, e.g. a quota or PodSecurity refusal.
fn failed_create(job: &Job, events: &[Event]) -> Option<String> {
    let uid = job.metadata.uid.as_deref();
    let name = job.metadata.name.as_deref();
    let mut about: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(FAILED_CREATE))
        .filter(|e| {
            let o = &e.involved_object;
            o.kind.as_deref() == Some("Job")
                && o.name.as_deref() == name
                && (o.uid.is_none() || uid.is_none() || o.uid.as_deref() == uid)
        })
        .collect();
    about.sort_by_key(|e| last_seen(e));
    let newest = about.last()?;
    let count: i32 = about.iter().map(|e| e.count.unwrap_or(1)).sum();
    Some(format!(
        "{} cannot create its Pod ({FAILED_CREATE}, {count} time{}): {}",
        object(job),
        if count == 1 { "" } else { "s" },
        newest.message.as_deref().unwrap_or("no message")
    ))
}

fn last_seen(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Why a failed Pod failed: its first terminated container's reason, message (the termination
/// message) and exit code, else the Pod's own reason and message (Evicted, DeadlineExceeded).
fn failure(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let terminated = status
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .chain(s.container_statuses.iter())
        })
        .flatten()
        .find_map(|c: &ContainerStatus| {
            let t = c.state.as_ref()?.terminated.as_ref()?;
            (t.exit_code != 0).then(|| {
                format!(
                    "container {} {} (exit code {}){}",
                    c.name,
                    t.reason.as_deref().unwrap_or("terminated"),
                    t.exit_code,
                    t.message
                        .as_deref()
                        .map(|m| format!(": {}", m.trim()))
                        .unwrap_or_default()
                )
            })
        });
    terminated.unwrap_or_else(|| {
        let s = status.cloned().unwrap_or_default();
        format!(
            "{}: {}",
            s.reason.unwrap_or_else(|| "Failed".into()),
            s.message.unwrap_or_else(|| "no message".into())
        )
    })
}

fn object(job: &Job) -> String {
    format!(
        "Job {}/{}",
        job.metadata.namespace.as_deref().unwrap_or_default(),
        job.metadata.name.as_deref().unwrap_or_default()
    )
}

fn pod_object(pod: &Pod) -> String {
    format!(
        "Pod {}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests;
