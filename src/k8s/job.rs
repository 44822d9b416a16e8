//! Running a Job to its end: find its Pod, follow the Pod's log line by line, then read the
//! Job's outcome (`Complete` / `Failed` conditions). A Job whose Pod cannot be created or
//! started (`conditions::pod_start`) ends the follow at once, naming why, and is deleted so
//! that it cannot start later, after the caller has moved on.

use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, LogParams};
use kube::Api;

use super::conditions;
use super::conditions::pod_start::job_started;
use super::conditions::Check;
use super::error::{K8sError, ObjectRef};
use super::Kube;

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Complete,
    /// The Failed condition's reason and message.
    Failed(String),
    /// Its Pod could not be created or started (quota, PodSecurity, image, config,
    /// scheduling): why; the Job has been deleted, so nothing of it ever ran.
    NotStarted(String),
}

/// The Job's outcome once it has one.
pub(crate) fn outcome(job: &Job) -> Option<Outcome> {
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
pub(crate) async fn follow(
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
        let list = job_pods(&pods, &job, &object).await?;
        let unread = newest(&list).filter(|p| followed.as_ref() != Some(p));
        if let Some(done) = outcome(&job) {
            if followed.is_none() {
                read_log(&pods, unread.as_deref(), &mut on_line).await;
            }
            return Ok(done);
        }
        let events = match list.is_empty() {
            true => job_events(kube, &object).await?,
            false => Vec::new(),
        };
        match job_started(&job, &list, &events, Timestamp::now()) {
            Check::Never(why) if !ran(&list) => {
                jobs.delete(name, &DeleteParams::background())
                    .await
                    .map_err(K8sError::api("delete", &object))?;
                return Ok(Outcome::NotStarted(why));
            }
            // It ran and failed (the Job's Failed condition may come later): its log, then why.
            Check::Never(why) => {
                read_log(&pods, unread.as_deref(), &mut on_line).await;
                return Ok(Outcome::Failed(why));
            }
            Check::Ok => {
                if let Some(pod) = unread {
                    let params = LogParams {
                        follow: true,
                        ..LogParams::default()
                    };
                    if let Ok(stream) = pods.log_stream(&pod, &params).await {
                        followed = Some(pod);
                        let mut lines = stream.lines();
                        while let Ok(Some(line)) = lines.try_next().await {
                            on_line(&line);
                        }
                        continue;
                    }
                }
            }
            Check::Pending(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The whole log of `pod` (if any) to `on_line`.
async fn read_log(pods: &Api<Pod>, pod: Option<&str>, on_line: &mut (impl FnMut(&str) + Send)) {
    if let Some(pod) = pod {
        let text = pods
            .logs(pod, &LogParams::default())
            .await
            .unwrap_or_default();
        text.lines().for_each(on_line);
    }
}

/// Whether any of the Pods ran (a Pod that never ran leaves nothing behind).
fn ran(pods: &[Pod]) -> bool {
    pods.iter().any(|p| {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        matches!(phase, Some("Running" | "Succeeded" | "Failed"))
    })
}

/// Why Job `ns/name`'s Pod cannot be created or started, or failed (`job_started`), if so.
pub(crate) async fn start_failure(
    kube: &Kube,
    ns: &str,
    name: &str,
) -> Result<Option<String>, K8sError> {
    let jobs: Api<Job> = Api::namespaced(kube.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
    let object = ObjectRef::new("Job", Some(ns), name);
    let Some(job) = jobs
        .get_opt(name)
        .await
        .map_err(K8sError::api("read", &object))?
    else {
        return Ok(None);
    };
    let list = job_pods(&pods, &job, &object).await?;
    let events = match list.is_empty() {
        true => job_events(kube, &object).await?,
        false => Vec::new(),
    };
    Ok(match job_started(&job, &list, &events, Timestamp::now()) {
        Check::Never(why) => Some(why),
        _ => None,
    })
}

/// The Events about a Job (`involvedObject` kind and name; `job_started` checks the UID).
async fn job_events(kube: &Kube, object: &ObjectRef) -> Result<Vec<Event>, K8sError> {
    let ns = object.namespace.clone().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(kube.client.clone(), &ns);
    let fields = format!(
        "involvedObject.kind=Job,involvedObject.name={}",
        object.name
    );
    let list = api
        .list(&ListParams::default().fields(&fields))
        .await
        .map_err(K8sError::api("list the Events of", object))?;
    Ok(list.items)
}

/// The Job's Pods (by its controller UID).
async fn job_pods(pods: &Api<Pod>, job: &Job, object: &ObjectRef) -> Result<Vec<Pod>, K8sError> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let selector = format!("batch.kubernetes.io/controller-uid={uid}");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(K8sError::api("list the Pods of", object))?;
    Ok(list.items)
}

/// The name of the most recent Pod (by creation), if any.
fn newest(pods: &[Pod]) -> Option<String> {
    pods.iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
        .and_then(|p| p.metadata.name.clone())
}

/// Why the Jobs with labels `selector` in `namespace` (a CNPG Cluster's bootstrap Jobs, such
/// as `<cluster>-1-full-recovery`) show the bootstrap will not succeed, if they do
/// ([`bootstrap_failing`]); CNPG's own status says nothing until the Job has failed for good.
pub(crate) async fn bootstrap_failing(
    kube: &Kube,
    namespace: &str,
    selector: &str,
) -> Result<Option<conditions::bootstrap::Failing>, K8sError> {
    let object = ObjectRef::new("Job", Some(namespace), selector);
    let api: Api<Job> = Api::namespaced(kube.client.clone(), namespace);
    let jobs = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(K8sError::api("list", &object))?
        .items;
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), namespace);
    let mut all = Vec::new();
    for job in &jobs {
        all.extend(job_pods(&pods, job, &object).await?);
    }
    Ok(conditions::bootstrap::bootstrap_failing(
        &jobs,
        &all,
        Timestamp::now(),
    ))
}

/// CNPG's own reason from the newest failed Pod of Job `job` in `namespace`: the last
/// `"level":"error"` line of its log (the instance manager logs JSON), as `msg: error`. None
/// when there is no failed Pod, no log or no such line (a missing reason is no failure here).
pub(crate) async fn cnpg_error(kube: &Kube, namespace: &str, job: &str) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .ok()?;
    let pod = list
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))?;
    let container = pod.spec.as_ref()?.containers.first()?.name.clone();
    let params = LogParams {
        container: Some(container),
        tail_lines: Some(200),
        ..LogParams::default()
    };
    let log = pods
        .logs(pod.metadata.name.as_deref()?, &params)
        .await
        .ok()?;
    last_error_line(&log)
}

/// The last JSON log line at level `error`, as `msg: error`.
fn last_error_line(log: &str) -> Option<String> {
    log.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        (v["level"] == "error").then(|| {
            let msg = v["msg"].as_str().unwrap_or("error");
            match v["error"].as_str() {
                Some(e) => format!("{msg}: {e}"),
                None => msg.to_string(),
            }
        })
    })
}

#[cfg(test)]
mod cnpg_error_tests {
    use super::last_error_line;

    #[test]
    fn the_last_error_line_is_cnpgs_reason() {
        let log = concat!(
            r#"{"level":"info","msg":"Target backup found"}"#,
            "\n",
            r#"{"level":"error","msg":"Error while restoring a backup","error":"first"}"#,
            "\n",
            r#"{"level":"info","msg":"Stopping"}"#,
            "\n",
            r#"{"level":"error","msg":"restore error","error":"while restoring cluster: WAL not found","stacktrace":"x"}"#,
            "\n",
            "not json\n",
        );
        assert_eq!(
            last_error_line(log).as_deref(),
            Some("restore error: while restoring cluster: WAL not found")
        );
        assert_eq!(last_error_line("plain text\n"), None);
    }
}
