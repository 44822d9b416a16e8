//! Running a Job to its end: find its Pod, follow the Pod's log line by line, then read the
//! Job's outcome (`Complete` / `Failed` conditions).

use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::Api;

use super::error::{K8sError, ObjectRef};
use super::Kube;

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    /// The Failed condition's reason and message.
    Failed(String),
}

/// The Job's outcome once it has one.
pub fn outcome(job: &Job) -> Option<Outcome> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    let holds = |t: &str| conds.iter().find(|c| c.type_ == t && c.status == "True");
    if holds("Complete").is_some() {
        return Some(Outcome::Complete);
    }
    holds("Failed").map(|c| {
        Outcome::Failed(format!(
            "{}: {}",
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default()
        ))
    })
}

/// Follows `job` until it has an outcome, giving every log line to `on_line`.
pub async fn follow(
    kube: &Kube,
    ns: &str,
    name: &str,
    mut on_line: impl FnMut(&str) + Send,
) -> Result<Outcome, K8sError> {
    let jobs: Api<Job> = Api::namespaced(kube.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
    let object = ObjectRef::new("Job", Some(ns), name);
    let mut followed = None::<String>;
    loop {
        let job = jobs
            .get(name)
            .await
            .map_err(K8sError::api("read", &object))?;
        if let Some(done) = outcome(&job) {
            if followed.is_none() {
                if let Some(pod) = newest_pod(&pods, &job, &object).await? {
                    let text = pods
                        .logs(&pod, &LogParams::default())
                        .await
                        .unwrap_or_default();
                    text.lines().for_each(&mut on_line);
                }
            }
            return Ok(done);
        }
        let pod = match newest_pod(&pods, &job, &object).await? {
            Some(pod) if followed.as_ref() != Some(&pod) => pod,
            _ => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
        };
        let params = LogParams {
            follow: true,
            ..LogParams::default()
        };
        match pods.log_stream(&pod, &params).await {
            Ok(stream) => {
                followed = Some(pod);
                let mut lines = stream.lines();
                while let Ok(Some(line)) = lines.try_next().await {
                    on_line(&line);
                }
            }
            // Not started yet (ContainerCreating): try again shortly.
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// The Job's most recent Pod (by creation), if any.
async fn newest_pod(
    pods: &Api<Pod>,
    job: &Job,
    object: &ObjectRef,
) -> Result<Option<String>, K8sError> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let selector = format!("batch.kubernetes.io/controller-uid={uid}");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(K8sError::api("list the Pods of", object))?;
    let mut items = list.items;
    items.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    Ok(items.pop().and_then(|p| p.metadata.name))
}

/// The first Job with labels `selector` in `namespace` that has failed: its name and the Failed
/// condition's reason (e.g. a CNPG Cluster's `<cluster>-1-full-recovery` bootstrap Job, which
/// CNPG never reports in the Cluster's status: the Cluster stays "Setting up primary").
pub async fn failed_with_labels(
    kube: &Kube,
    namespace: &str,
    selector: &str,
) -> Result<Option<(String, String)>, K8sError> {
    let api: Api<Job> = Api::namespaced(kube.client.clone(), namespace);
    let jobs = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(K8sError::api(
            "list",
            &ObjectRef::new("Job", Some(namespace), selector),
        ))?;
    Ok(jobs.items.iter().find_map(|j| match outcome(j) {
        Some(Outcome::Failed(why)) => Some((j.metadata.name.clone().unwrap_or_default(), why)),
        _ => None,
    }))
}
