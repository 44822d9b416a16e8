//! Migration Jobs of an app namespace: Argo CD hook Jobs (`argocd.argoproj.io/hook`) and Jobs
//! matching the migration label selector, their state, and their Pods' logs, read only after
//! the Secrets their Pods use are taught to the redactor.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodSpec, Secret};
use kube::api::{ListParams, LogParams};
use kube::Api;
use serde::Serialize;

use super::argo::{HOOK, HOOK_FINALIZER};
use super::error::{K8sError, ObjectRef};
use super::job::{outcome, Outcome};
use super::Kube;
use crate::redact::Redactor;

/// One Job, as `migrations status` and `resync` see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HookJob {
    pub name: String,
    pub uid: String,
    /// The Argo CD hook phases (`Sync`), when it is a hook.
    pub hook: Option<String>,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    /// The Failed condition's reason and message.
    pub reason: Option<String>,
    /// Being deleted (deletionTimestamp set).
    pub deleting: bool,
    /// Held by `argocd.argoproj.io/hook-finalizer`.
    pub hook_finalizer: bool,
    pub created: Option<String>,
}

impl HookJob {
    pub(crate) fn of(job: &Job) -> Self {
        let meta = &job.metadata;
        let (state, reason) = match outcome(job) {
            Some(Outcome::Complete) => ("succeeded", None),
            Some(Outcome::Failed(r) | Outcome::NotStarted(r)) => ("failed", Some(r)),
            None => ("running", None),
        };
        Self {
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            hook: meta.annotations.as_ref().and_then(|a| a.get(HOOK)).cloned(),
            state: state.into(),
            reason,
            deleting: meta.deletion_timestamp.is_some(),
            hook_finalizer: meta
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == HOOK_FINALIZER),
            created: meta.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        }
    }

    pub(crate) fn failed(&self) -> bool {
        self.state == "failed"
    }

    /// `Argo CD Sync hook` or `migration Job`.
    pub(crate) fn what(&self) -> String {
        match &self.hook {
            Some(h) => format!("Argo CD {h} hook"),
            None => "migration Job".into(),
        }
    }
}

/// The Jobs of `ns` that are Argo CD hooks or match `selector` (empty: hooks only), oldest first.
pub(crate) async fn list(
    kube: &Kube,
    ns: &str,
    selector: &str,
) -> Result<Vec<(Job, HookJob)>, K8sError> {
    let jobs: Api<Job> = Api::namespaced(kube.client.clone(), ns);
    let what = ObjectRef::new("Job", Some(ns), "*");
    let all = jobs
        .list(&ListParams::default())
        .await
        .map_err(K8sError::api("list", &what))?;
    let labelled: Vec<String> = if selector.is_empty() {
        vec![]
    } else {
        let lp = ListParams::default().labels(selector);
        let found = jobs
            .list(&lp)
            .await
            .map_err(K8sError::api("list (by label) the", &what))?;
        found
            .items
            .into_iter()
            .filter_map(|j| j.metadata.uid)
            .collect()
    };
    let mut out: Vec<(Job, HookJob)> = all
        .items
        .into_iter()
        .map(|j| {
            let h = HookJob::of(&j);
            (j, h)
        })
        .filter(|(_, h)| h.hook.is_some() || labelled.contains(&h.uid))
        .collect();
    out.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    Ok(out)
}

/// The Secrets a Pod template reads (`envFrom` and `secretKeyRef`), by name.
fn secret_names(spec: &PodSpec) -> Vec<String> {
    let mut names = vec![];
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for from in c.env_from.iter().flatten() {
            names.extend(from.secret_ref.as_ref().map(|s| s.name.clone()));
        }
        for env in c.env.iter().flatten() {
            let key_ref = env
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref());
            names.extend(key_ref.map(|s| s.name.clone()));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Teaches the redactor every value of the Secrets `job`'s Pods use; returns the names of those
/// it could not read (so the caller can say the logs may be less redacted).
pub(crate) async fn learn_secrets(
    kube: &Kube,
    ns: &str,
    job: &Job,
    redactor: &Redactor,
) -> Vec<String> {
    let Some(spec) = job.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return vec![];
    };
    let secrets: Api<Secret> = Api::namespaced(kube.client.clone(), ns);
    let mut unread = vec![];
    for name in secret_names(spec) {
        match secrets.get_opt(&name).await {
            Ok(Some(s)) => {
                for v in s.data.iter().flatten().map(|(_, v)| v) {
                    redactor.learn_str(&String::from_utf8_lossy(&v.0));
                }
                for v in s.string_data.iter().flatten().map(|(_, v)| v) {
                    redactor.learn_str(v);
                }
            }
            Ok(None) => {}
            Err(_) => unread.push(name),
        }
    }
    unread
}

/// The logs of every Pod of the Job with `uid` (pod name -> text), oldest Pod first.
pub(crate) async fn logs(
    kube: &Kube,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<BTreeMap<String, String>, K8sError> {
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
    let object = ObjectRef::new("Job", Some(ns), name);
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}"));
    let list = pods
        .list(&lp)
        .await
        .map_err(K8sError::api("list the Pods of", &object))?;
    let mut out = BTreeMap::new();
    for pod in list.items {
        let Some(pod_name) = pod.metadata.name else {
            continue;
        };
        let text = pods
            .logs(&pod_name, &LogParams::default())
            .await
            .unwrap_or_else(|e| format!("(no log: {})", super::error::KubeCause(e)));
        out.insert(pod_name, text);
    }
    Ok(out)
}

/// The lines of a log that say what went wrong (errors, failures, panics), else its last 5.
pub(crate) fn failing_lines(log: &str) -> Vec<String> {
    const WORDS: &[&str] = &[
        "error",
        "fatal",
        "failed",
        "panic",
        "exception",
        "traceback",
    ];
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let bad: Vec<String> = lines
        .iter()
        .filter(|l| {
            let lower = l.to_lowercase();
            WORDS.iter().any(|w| lower.contains(w))
        })
        .map(|l| l.to_string())
        .collect();
    if !bad.is_empty() {
        return bad;
    }
    let skip = lines.len().saturating_sub(5);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: web-migrate
  uid: u1
  annotations: {argocd.argoproj.io/hook: Sync}
  finalizers: [argocd.argoproj.io/hook-finalizer]
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: x
        envFrom: [{secretRef: {name: app-env}}]
        env: [{name: P, valueFrom: {secretKeyRef: {name: other, key: p}}}]
status:
  conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]
"#;

    #[test]
    fn a_failed_hook_job_is_read_with_its_secrets() {
        let job: Job = serde_saphyr::from_str(JOB).unwrap();
        let h = HookJob::of(&job);
        assert!(h.failed() && h.hook_finalizer && !h.deleting);
        assert_eq!(h.what(), "Argo CD Sync hook");
        assert!(h.reason.unwrap().starts_with("BackoffLimitExceeded"));
        let spec = job.spec.unwrap().template.spec.unwrap();
        assert_eq!(secret_names(&spec), ["app-env", "other"]);
    }

    #[test]
    fn failing_lines_are_the_errors_else_the_tail() {
        let log = "waiting for postgres\n[payload] running 42\nERROR: column exists\n";
        assert_eq!(failing_lines(log), ["ERROR: column exists"]);
        let quiet = (1..=8).map(|i| format!("line {i}\n")).collect::<String>();
        assert_eq!(failing_lines(&quiet).len(), 5);
        assert_eq!(failing_lines(&quiet)[0], "line 4");
    }
}
