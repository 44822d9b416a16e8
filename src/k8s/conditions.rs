//! Named wait conditions, each judging an object (or its absence, or a watched set of objects).
//!
//! A condition answers [`Check::Ok`], [`Check::Pending`] (keep waiting) or [`Check::Never`]
//! (it cannot happen any more, e.g. `job_complete` on a failed Job: stop waiting now).
//! [`Condition`] lists those `kube.wait` knows by name; [`Judge`] is what the wait helper
//! (`k8s::wait`) drives: a [`Condition`] on a UID ([`On`]), or the conditions of the modules
//! below, which steps wait on without a runbook naming them.
//!
//! - [`argo`]: `sync_operation_ended` (this run's operation on an Application) and
//!   `synced_healthy`.
//! - [`gone`]: no object of a watched set left (or none owned by a UID).
//! - [`job_run`]: what following a Job should do next (its log, its end, why it cannot start).
//! - [`pod_start`], [`bootstrap`]: a Job's Pod that will never start, a CNPG bootstrap that
//!   will never succeed.

pub(crate) mod argo;
pub(crate) mod bootstrap;
pub(crate) mod gone;
pub(crate) mod job_run;
pub(crate) mod pod_start;

use kube::core::DynamicObject;
use serde_json::Value;

/// A condition's verdict on the current object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    Ok,
    /// Not yet; what it is now.
    Pending(String),
    /// It will not happen; why.
    Never(String),
}

/// A named condition on one object of kind `K`, as the wait helper drives it.
pub(crate) trait Judge<K> {
    /// The name it is reported under (`job_complete`, `synced_healthy`, ...).
    fn name(&self) -> &str;
    /// The verdict on the object now (`None`: not found).
    fn check(&self, obj: Option<&K>) -> Check;
}

/// A [`Condition`] on the object with `uid` (what `deleted` waits on: a new object of the same
/// name is not the one deleted).
#[derive(Debug, Clone)]
pub(crate) struct On {
    pub(crate) condition: Condition,
    pub(crate) uid: Option<String>,
}

impl Judge<DynamicObject> for On {
    fn name(&self) -> &str {
        self.condition.name()
    }

    fn check(&self, obj: Option<&DynamicObject>) -> Check {
        self.condition.check(obj, self.uid.as_deref())
    }
}

/// The conditions `kube.wait` knows, by the name runbooks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// CNPG `Cluster` with `status.phase` "Cluster in healthy state" (never, once
    /// "Cluster is unrecoverable and needs manual intervention").
    ClusterHealthy,
    /// Job with condition `Complete=True` (never, once `Failed=True`).
    JobComplete,
    /// Job with condition `Failed=True`.
    JobFailed,
    /// The object exists.
    Exists,
    /// Deployment with condition `Available=True`.
    Available,
    /// The object (this UID) is gone.
    Deleted,
    /// CNPG `Backup` in phase `completed` (never, once `failed`, `walArchivingFailing` or
    /// "invalid backup definition": the Backup's `status.error` says why).
    BackupCompleted,
}

/// `status.phase` of a CNPG Cluster that is ready.
pub(crate) const CLUSTER_HEALTHY_PHASE: &str = "Cluster in healthy state";
/// `status.phase` CNPG (1.28.4+, 1.29.2+, 1.30) sets after a failed bootstrap Job; its
/// `status.phaseReason` names the Job.
pub(crate) const CLUSTER_UNRECOVERABLE_PHASE: &str =
    "Cluster is unrecoverable and needs manual intervention";

const NAMES: &[(&str, Condition)] = &[
    ("cluster_healthy", Condition::ClusterHealthy),
    ("job_complete", Condition::JobComplete),
    ("job_failed", Condition::JobFailed),
    ("exists", Condition::Exists),
    ("available", Condition::Available),
    ("deleted", Condition::Deleted),
    ("backup_completed", Condition::BackupCompleted),
];

/// Backup phases that end a Backup without a backup.
pub(crate) const BACKUP_FAILED_PHASES: &[&str] =
    &["failed", "walArchivingFailing", "invalid backup definition"];

impl Condition {
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
            .ok_or_else(|| {
                let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                format!("unknown condition `{name}`; known: {}", known.join(", "))
            })
    }

    pub(crate) fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Judges `obj` (`None`: not found). `uid` is the object waited on, for `deleted`.
    pub(crate) fn check(self, obj: Option<&DynamicObject>, uid: Option<&str>) -> Check {
        let Some(obj) = obj else {
            return match self {
                Condition::Deleted => Check::Ok,
                _ => Check::Pending("not found".into()),
            };
        };
        match self {
            Condition::Deleted if uid.is_some() && obj.metadata.uid.as_deref() != uid => Check::Ok,
            Condition::Deleted => Check::Pending(match &obj.metadata.deletion_timestamp {
                Some(_) => "being deleted (finalizers pending)".into(),
                None => "exists".into(),
            }),
            Condition::Exists => Check::Ok,
            Condition::ClusterHealthy => cluster_healthy(obj),
            Condition::BackupCompleted => backup_completed(obj),
            Condition::JobComplete => {
                match (condition(obj, "Complete"), condition(obj, "Failed")) {
                    (Some(true), _) => Check::Ok,
                    (_, Some(true)) => {
                        Check::Never(format!("the Job failed: {}", reason(obj, "Failed")))
                    }
                    _ => Check::Pending("running".into()),
                }
            }
            Condition::JobFailed => match (condition(obj, "Failed"), condition(obj, "Complete")) {
                (Some(true), _) => Check::Ok,
                (_, Some(true)) => Check::Never("the Job completed".into()),
                _ => Check::Pending("running".into()),
            },
            Condition::Available => match condition(obj, "Available") {
                Some(true) => Check::Ok,
                _ => Check::Pending(format!("Available: {}", reason(obj, "Available"))),
            },
        }
    }
}

fn cluster_healthy(obj: &DynamicObject) -> Check {
    match obj.data.pointer("/status/phase").and_then(Value::as_str) {
        Some(CLUSTER_HEALTHY_PHASE) => Check::Ok,
        Some(CLUSTER_UNRECOVERABLE_PHASE) => Check::Never(format!(
            "CNPG says it is unrecoverable and needs manual intervention: {}",
            obj.data
                .pointer("/status/phaseReason")
                .and_then(Value::as_str)
                .unwrap_or("no phaseReason")
        )),
        Some(phase) => Check::Pending(format!("phase `{phase}`")),
        None => Check::Pending("no status.phase yet".into()),
    }
}

fn backup_completed(obj: &DynamicObject) -> Check {
    let text = |p: &str| obj.data.pointer(p).and_then(Value::as_str);
    match text("/status/phase") {
        Some("completed") => Check::Ok,
        Some(phase) if BACKUP_FAILED_PHASES.contains(&phase) => Check::Never(format!(
            "phase `{phase}`: {}",
            text("/status/error").unwrap_or("no status.error")
        )),
        Some(phase) => Check::Pending(format!("phase `{phase}`")),
        None => Check::Pending("no status.phase yet".into()),
    }
}

/// `status.conditions[type=name].status == "True"`, if that condition is present.
/// A Pod's phase (`Pending`, `Running`, `Succeeded`, `Failed`), when reported.
pub(crate) fn pod_phase(pod: &k8s_openapi::api::core::v1::Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

fn condition(obj: &DynamicObject, name: &str) -> Option<bool> {
    conditions(obj)
        .find(|c| c.get("type").and_then(Value::as_str) == Some(name))
        .map(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

fn reason(obj: &DynamicObject, name: &str) -> String {
    conditions(obj)
        .find(|c| c.get("type").and_then(Value::as_str) == Some(name))
        .and_then(|c| c.get("message").or_else(|| c.get("reason")))
        .and_then(Value::as_str)
        .unwrap_or("no such condition yet")
        .to_string()
}

fn conditions(obj: &DynamicObject) -> impl Iterator<Item = &Value> {
    obj.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests;
