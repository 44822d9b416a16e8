//! `gone`: no object of a watched set is left — the Pods of a Deployment scaled to zero, or
//! (given an owner's UID) the Pods and PVCs a deleted CNPG Cluster owned. Objects owned by
//! another UID (a new Cluster of the same name) do not count. `job_gone`: a deleted Job (this
//! UID) and its Pods are gone.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;

use super::Check;
use crate::k8s::argo::HOOK_FINALIZER;

/// `Ok` when none of `objects` is left (none owned by `owner_uid`, when given); else
/// `Pending` naming those left (`Pod ns/name, ...`).
pub(crate) fn gone<K: Resource<DynamicType = ()>>(
    objects: &[Arc<K>],
    owner_uid: Option<&str>,
) -> Check {
    let left = left(objects, owner_uid);
    match left.is_empty() {
        true => Check::Ok,
        false => Check::Pending(left.join(", ")),
    }
}

/// `Kind ns/name` of each object of `objects` (owned by `owner_uid`, when given), sorted.
pub(crate) fn left<K: Resource<DynamicType = ()>>(
    objects: &[Arc<K>],
    owner_uid: Option<&str>,
) -> Vec<String> {
    let kind = K::kind(&());
    let owned = |o: &K| match owner_uid {
        None => true,
        Some(uid) => o
            .meta()
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == uid),
    };
    let mut names: Vec<String> = objects
        .iter()
        .filter(|o| owned(o))
        .map(|o| {
            let meta = o.meta();
            let ns = meta.namespace.as_deref().unwrap_or_default();
            format!("{kind} {ns}/{}", meta.name.as_deref().unwrap_or_default())
        })
        .collect();
    names.sort();
    names
}

/// `Ok` once no Job with `uid` is among `jobs` and no Pod is left; else `Pending` saying what
/// holds it (Argo CD's hook finalizer, the deletion itself, or the Pods left).
pub(crate) fn job_gone(jobs: &[Arc<Job>], uid: &str, pods: &[Arc<Pod>]) -> Check {
    let job = jobs.iter().find(|j| j.metadata.uid.as_deref() == Some(uid));
    match job {
        None if pods.is_empty() => Check::Ok,
        None => Check::Pending(format!("{} Pod(s) left", pods.len())),
        Some(j) if held(j) => Check::Pending(format!("held by finalizer {HOOK_FINALIZER}")),
        Some(_) => Check::Pending("being deleted".into()),
    }
}

/// A Job being deleted and held by Argo CD's hook finalizer.
pub(crate) fn held(job: &Job) -> bool {
    job.metadata.deletion_timestamp.is_some()
        && job
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == HOOK_FINALIZER)
}

#[cfg(test)]
mod tests;
