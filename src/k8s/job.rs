//! Running a Job to its end: watch it, its Pods and the Events about it, follow the Pod's log
//! line by line, then read the Job's outcome (`Complete` / `Failed` conditions, or its one Pod
//! succeeded: the `Complete` the job controller adds a second later changes nothing). A Job whose
//! Pod cannot be created or started (`conditions::pod_start`) ends the follow at once, naming
//! why, and is deleted so that it cannot start later, after the caller has moved on. The
//! judging is `conditions::job_run`; the watches re-list on 410 / 5xx (`k8s::wait`).

use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, LogParams};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::Api;

use super::conditions;
use super::conditions::job_run::{job_next, newest, Next};
use super::error::{K8sError, ObjectRef};
use super::{wait, Kube};

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

/// How often a followed Job is judged again without a change (its Pod's Unschedulable grace
/// runs on the clock; everything else arrives by the watches).
const RECHECK: Duration = Duration::from_secs(1);

/// Follows `job` until it has an outcome, giving every log line to `on_line`: the Job, its
/// Pods and the Events about it are watched, and [`job_next`] says what to do next.
pub(crate) async fn follow(
    kube: &Kube,
    ns: &str,
    name: &str,
    mut on_line: impl FnMut(&str) + Send,
) -> Result<Outcome, K8sError> {
    let jobs: Api<Job> = Api::namespaced(kube.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
    let object = ObjectRef::new("Job", Some(ns), name);
    jobs.get(name)
        .await
        .map_err(K8sError::api("read", &object))?;
    let mut watching = Watching::new(kube, ns, name);
    let mut followed = None::<String>;
    loop {
        let now = |job: Option<&Job>, pods: &[&Pod], events: &[&Event]| match job_next(
            job,
            pods,
            events,
            followed.as_deref(),
            Timestamp::now(),
        ) {
            Next::Wait(_) => None,
            next => Some(next),
        };
        let next = watching
            .until(now)
            .await
            .map_err(wait::watch_failed(&object))?;
        let unread = watching.newest().filter(|p| followed.as_ref() != Some(p));
        match next {
            Next::Ended(done) => {
                if followed.is_none() {
                    read_log(&pods, unread.as_deref(), &mut on_line).await;
                }
                return Ok(done);
            }
            Next::Stuck { why, ran: false } => {
                jobs.delete(name, &DeleteParams::background())
                    .await
                    .map_err(K8sError::api("delete", &object))?;
                return Ok(Outcome::NotStarted(why));
            }
            // It ran and failed (the Job's Failed condition may come later): its log, then why.
            Next::Stuck { why, ran: true } => {
                read_log(&pods, unread.as_deref(), &mut on_line).await;
                return Ok(Outcome::Failed(why));
            }
            Next::Follow(pod) => match follow_log(&pods, &pod, &mut on_line).await {
                true => followed = Some(pod),
                // Not served yet (the kubelet API): again after the next change or tick.
                false => watching
                    .sets
                    .changed()
                    .await
                    .map_err(wait::watch_failed(&object))?,
            },
            Next::Gone => return Err(K8sError::NotFound { object }),
            Next::Wait(_) => {}
        }
    }
}

/// Streams `pod`'s log to `on_line` until it ends; `false` if it could not be opened.
async fn follow_log(pods: &Api<Pod>, pod: &str, on_line: &mut (impl FnMut(&str) + Send)) -> bool {
    let params = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let Ok(stream) = pods.log_stream(pod, &params).await else {
        return false;
    };
    let mut lines = stream.lines();
    while let Ok(Some(line)) = lines.try_next().await {
        on_line(&line);
    }
    true
}

/// A Job, its Pods and the Events about it, watched into stores. Pods are watched by the
/// `batch.kubernetes.io/job-name` label and judged only when the Job (this UID) owns them, so a
/// Job not created yet, or created again under the same name, is followed right.
struct Watching {
    job: Store<Job>,
    pods: Store<Pod>,
    events: Store<Event>,
    sets: wait::Sets,
}

impl Watching {
    fn new(kube: &Kube, ns: &str, name: &str) -> Self {
        let config = watcher::Config::default();
        let job = wait::watched(
            Api::<Job>::namespaced(kube.client.clone(), ns),
            config.clone().fields(&format!("metadata.name={name}")),
        );
        let pods = wait::watched(
            Api::<Pod>::namespaced(kube.client.clone(), ns),
            config
                .clone()
                .labels(&format!("batch.kubernetes.io/job-name={name}")),
        );
        let fields = format!("involvedObject.kind=Job,involvedObject.name={name}");
        let events = wait::watched(
            Api::<Event>::namespaced(kube.client.clone(), ns),
            config.fields(&fields),
        );
        let changes = vec![job.changes, pods.changes, events.changes];
        Self {
            job: job.store,
            pods: pods.store,
            events: events.store,
            sets: wait::Sets::new(changes, Some(RECHECK)),
        }
    }

    /// Judges the Job (if there), its Pods and Events with `judge` until it returns something.
    async fn until<T>(
        &mut self,
        mut judge: impl FnMut(Option<&Job>, &[&Pod], &[&Event]) -> Option<T>,
    ) -> Result<T, watcher::Error> {
        let (job, pods, events) = (&self.job, &self.pods, &self.events);
        self.sets
            .until(|| {
                let (j, p, e) = (job.state(), pods.state(), events.state());
                let job = j.first().map(AsRef::as_ref);
                let p: Vec<&Pod> = p
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|p| owned(p, job))
                    .collect();
                let e: Vec<&Event> = e.iter().map(AsRef::as_ref).collect();
                judge(job, &p, &e)
            })
            .await
    }

    /// The newest of the Job's Pods, if any.
    fn newest(&self) -> Option<String> {
        let job = self.job.state();
        let job = job.first().map(AsRef::as_ref);
        let pods = self.pods.state();
        let pods: Vec<Pod> = pods
            .iter()
            .filter(|p| owned(p, job))
            .map(|p| (**p).clone())
            .collect();
        newest(&pods)
    }
}

/// The outcome of `job` found rather than followed (a resumed step): its condition, or what its
/// own Pods have already decided while the job controller lags
/// ([`conditions::job_run::decided`]).
pub(crate) async fn settled(kube: &Kube, job: &Job) -> Result<Option<Outcome>, K8sError> {
    let ns = job.metadata.namespace.as_deref().unwrap_or_default();
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
    let object = ObjectRef::new("Pod", Some(ns), &format!("(Job {name})"));
    let list = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}")))
        .await
        .map_err(K8sError::api("list", &object))?;
    let own: Vec<&Pod> = list.items.iter().filter(|p| owned(p, Some(job))).collect();
    Ok(conditions::job_run::decided(job, &own))
}

/// Whether `job` (its UID) is the controller of `pod`.
fn owned(pod: &Pod, job: Option<&Job>) -> bool {
    let uid = job.and_then(|j| j.metadata.uid.as_deref());
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job" && Some(o.uid.as_str()) == uid)
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

/// Returns once Job `ns/name`'s Pod cannot be created or started, or has failed
/// (`job_started`, through [`job_next`]): why. An error reading or watching it is returned.
pub(crate) async fn start_failure(kube: &Kube, ns: &str, name: &str) -> Result<String, K8sError> {
    let object = ObjectRef::new("Job", Some(ns), name);
    let mut watching = Watching::new(kube, ns, name);
    let stuck = |job: Option<&Job>, pods: &[&Pod], events: &[&Event]| match job
        .map(|_| job_next(job, pods, events, None, Timestamp::now()))
    {
        Some(Next::Stuck { why, .. }) => Some(why),
        _ => None,
    };
    watching
        .until(stuck)
        .await
        .map_err(wait::watch_failed(&object))
}

/// Returns once the Jobs with labels `selector` in `namespace` (a CNPG Cluster's bootstrap
/// Jobs, such as `<cluster>-1-full-recovery`) show the bootstrap will not succeed
/// ([`conditions::bootstrap::bootstrap_failing`], judged on the watched Jobs and Job Pods);
/// CNPG's own status says nothing until the Job has failed for good.
pub(crate) async fn bootstrap_failure(
    kube: &Kube,
    namespace: &str,
    selector: &str,
) -> Result<conditions::bootstrap::Failing, K8sError> {
    let object = ObjectRef::new("Job", Some(namespace), selector);
    let config = watcher::Config::default();
    let jobs = wait::watched(
        Api::<Job>::namespaced(kube.client.clone(), namespace),
        config.clone().labels(selector),
    );
    let pods = wait::watched(
        Api::<Pod>::namespaced(kube.client.clone(), namespace),
        config.labels("batch.kubernetes.io/controller-uid"),
    );
    let judge = || {
        let jobs: Vec<Job> = jobs.store.state().iter().map(|j| (**j).clone()).collect();
        let pods: Vec<Pod> = pods.store.state().iter().map(|p| (**p).clone()).collect();
        conditions::bootstrap::bootstrap_failing(&jobs, &pods, Timestamp::now())
    };
    wait::until_judged(vec![jobs.changes, pods.changes], Some(RECHECK), judge)
        .await
        .map_err(wait::watch_failed(&object))
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
        .filter(|p| conditions::pod_phase(p) == Some("Failed"))
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
