//! `uses: argo.delete_hooks`: delete failed hook Jobs (each only if it is still the same Job, by
//! UID) with their Pods, and wait until Jobs and Pods are gone. A failed Job is immutable: the
//! next sync can only run the hook again once it is gone (seed 000 section 7).
//!
//! A Job held by `argocd.argoproj.io/hook-finalizer` stays `Terminating` until Argo CD lets it
//! go. While the Application's operation runs, that is Argo CD's business: the step fails and
//! says so. Once the operation is finished, nobody will remove it (the controller restarted
//! mid-hook, reference 10.3), so the step removes that one finalizer and says why.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PropagationPolicy};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::Api;
use serde_json::{json, Value};

use crate::k8s::argo::{App, AppState, HOOK_FINALIZER};
use crate::k8s::conditions::{gone, Check};
use crate::k8s::{params, wait, Connector, K8sError, Kube, ObjectRef};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct ArgoDeleteHooks(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "argo.delete_hooks",
    summary: "delete failed hook Jobs with their Pods and wait until gone",
    inputs: &[
        input("namespace", true, "the app namespace"),
        input(
            "jobs",
            true,
            "[{name, uid}], e.g. `argo.failed_hooks`' `jobs`",
        ),
        input("app_namespace", true, "the Argo CD namespace"),
        input("app", true, "the Application whose hooks they are"),
        input("propagation", false, "background (default) or foreground"),
        input("timeout", false, "how long to wait until gone (default 2m)"),
        input("prod", false, "whether this is production"),
    ],
    outputs: &["deleted"],
    idempotent: true,
};

/// `(name, uid)` of every listed Job.
fn targets(inputs: &Inputs) -> Result<Vec<(String, String)>, StepError> {
    let bad = || StepError::input("jobs", "expected a list of {name, uid}");
    let list = inputs
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    list.iter()
        .map(|j| {
            let s = |k: &str| j.get(k).and_then(Value::as_str).map(String::from);
            Ok((s("name").ok_or_else(bad)?, s("uid").unwrap_or_default()))
        })
        .collect()
}

fn propagation(inputs: &Inputs) -> Result<PropagationPolicy, StepError> {
    match inputs.opt_str("propagation")?.as_deref() {
        None | Some("background") => Ok(PropagationPolicy::Background),
        Some("foreground") => Ok(PropagationPolicy::Foreground),
        Some(_) => Err(StepError::input(
            "propagation",
            "expected background or foreground (orphan would leave the Pods)",
        )),
    }
}

fn timeout(inputs: &Inputs) -> Result<Duration, StepError> {
    match inputs.get("timeout") {
        None => Ok(Duration::from_secs(120)),
        Some(_) => inputs.duration("timeout"),
    }
}

#[async_trait::async_trait]
impl Step for ArgoDeleteHooks {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let ns = inputs.str("namespace")?;
        let (_, _) = (propagation(inputs)?, timeout(inputs)?);
        let what = match inputs.get("jobs") {
            Some(Value::Array(_)) => {
                let names: Vec<String> = targets(inputs)?.into_iter().map(|(n, _)| n).collect();
                format!("Job(s) {}", names.join(", "))
            }
            _ => "the failed hook Jobs".into(),
        };
        Ok(StepPlan {
            description: format!("delete {what} in {ns} with their Pods and wait until gone"),
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let ns = ctx.inputs.str("namespace")?;
        let policy = propagation(&ctx.inputs)?;
        let limit = timeout(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let app = App::new(
            &kube,
            &ctx.inputs.str("app_namespace")?,
            &ctx.inputs.str("app")?,
        );
        let mut deleted = vec![];
        for (name, uid) in targets(&ctx.inputs)? {
            let d = Deleter {
                kube: &kube,
                ctx,
                ns: &ns,
                app: &app,
            };
            if d.delete(&name, &uid, policy.clone(), limit).await? {
                deleted.push(name);
            }
        }
        Ok(Outputs::default().with("deleted", deleted))
    }
}

struct Deleter<'a> {
    kube: &'a Kube,
    ctx: &'a StepContext,
    ns: &'a str,
    app: &'a App,
}

impl Deleter<'_> {
    /// Deletes one Job (if it is still the one with `uid`) and waits; `false` when already gone.
    async fn delete(
        &self,
        name: &str,
        uid: &str,
        policy: PropagationPolicy,
        limit: Duration,
    ) -> Result<bool, StepError> {
        let jobs: Api<Job> = Api::namespaced(self.kube.client.clone(), self.ns);
        let object = ObjectRef::new("Job", Some(self.ns), name);
        let current = jobs
            .get_opt(name)
            .await
            .map_err(K8sError::api("read", &object))?;
        let Some(job) =
            current.filter(|j| uid.is_empty() || j.metadata.uid.as_deref() == Some(uid))
        else {
            self.ctx.events.log(format!("{object} is already gone"));
            return Ok(false);
        };
        let uid = job.metadata.uid.clone();
        let dp = params::delete(self.ctx.mode, policy, uid.clone());
        match jobs.delete(name, &dp).await {
            Ok(_) => {}
            Err(e) if crate::k8s::error::status_code(&e) == Some(404) => return Ok(false),
            Err(e) => return Err(K8sError::api("delete", &object)(e).into()),
        }
        if params::dry(self.ctx.mode) {
            self.ctx.events.log(format!(
                "dry run: server accepted deleting {object} and its Pods"
            ));
            return Ok(false);
        }
        self.ctx.events.progress(
            format!("waiting for {object} and its Pods to be gone"),
            None,
            None,
        );
        self.wait_gone(&jobs, &object, uid.as_deref().unwrap_or_default(), limit)
            .await?;
        self.ctx
            .events
            .log(format!("deleted {object} and its Pods"));
        Ok(true)
    }

    /// Waits until the Job with `uid` and its Pods are gone (`job_gone`, watching both); a Job
    /// still held by Argo CD's hook finalizer 3 s after the delete is looked at once
    /// ([`Self::release`]).
    async fn wait_gone(
        &self,
        jobs: &Api<Job>,
        object: &ObjectRef,
        uid: &str,
        limit: Duration,
    ) -> Result<(), StepError> {
        let deadline = tokio::time::Instant::now() + limit;
        let grace = tokio::time::Instant::now() + Duration::from_secs(3);
        let pods: Api<Pod> = Api::namespaced(self.kube.client.clone(), self.ns);
        let config = watcher::Config::default();
        let job_w = wait::watched(
            jobs.clone(),
            config
                .clone()
                .fields(&format!("metadata.name={}", object.name)),
        );
        let pods_w = wait::watched(
            pods,
            config.labels(&format!("batch.kubernetes.io/controller-uid={uid}")),
        );
        let now = || gone::job_gone(&job_w.store.state(), uid, &pods_w.store.state());
        let mut sets = wait::Sets::new(vec![job_w.changes, pods_w.changes], None);
        let (mut past_grace, mut checked) = (false, false);
        loop {
            let look = past_grace && !checked;
            let judge = || match now() {
                Check::Ok => Some(None),
                Check::Pending(_) if look => held_job(&job_w.store, uid).map(Some),
                _ => None,
            };
            let next = tokio::select! {
                r = tokio::time::timeout_at(deadline, sets.until(judge)) => r,
                _ = tokio::time::sleep_until(grace), if !past_grace => {
                    past_grace = true;
                    continue;
                }
                _ = self.ctx.cancel.cancelled() => return Err(StepError::Cancelled),
            };
            match next {
                Ok(Ok(None)) => return Ok(()),
                Ok(Ok(Some(job))) => {
                    checked = true;
                    self.release(object, &job).await?;
                }
                Ok(Err(e)) => return Err(wait::watch_failed(object)(e).into()),
                Err(_) => {
                    let last = match now() {
                        Check::Pending(last) | Check::Never(last) => last,
                        Check::Ok => "gone just after the deadline".into(),
                    };
                    return Err(K8sError::TimedOut {
                        object: object.clone(),
                        condition: "deleted".into(),
                        after: limit,
                        last,
                    }
                    .into());
                }
            }
        }
    }

    /// A Job stuck on Argo CD's hook finalizer: released only if the operation is finished.
    async fn release(&self, object: &ObjectRef, job: &Job) -> Result<(), StepError> {
        let state = AppState::of(&self.app.get().await?);
        if !state.completed() {
            return Err(StepError::Failed(format!(
                "{object} is held by finalizer {HOOK_FINALIZER} while {} has an operation in progress (phase {}): Argo CD still owns this hook, so cnpgops leaves it alone. Wait for the operation to end, or stop it with `argocd app terminate-op {}`, then run again",
                self.app.object, state.phase.as_deref().unwrap_or("requested"), self.app.object.name
            )));
        }
        let rest: Vec<&String> = job
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != HOOK_FINALIZER)
            .collect();
        let body = json!({"metadata": {"resourceVersion": job.metadata.resource_version, "finalizers": rest}});
        let jobs: Api<Job> = Api::namespaced(self.kube.client.clone(), self.ns);
        jobs.patch(
            &object.name,
            &params::patch(self.ctx.mode),
            &Patch::Merge(body),
        )
        .await
        .map_err(K8sError::api("remove the hook finalizer of", object))?;
        self.ctx.events.warn(format!(
            "{object} was held by finalizer {HOOK_FINALIZER} although {}'s last operation finished ({} at {}): Argo CD no longer tracks this hook (e.g. its controller restarted mid-hook) and would never release it, so cnpgops removed that finalizer (only that one)",
            self.app.object, state.phase.as_deref().unwrap_or("?"), state.finished_at.as_deref().unwrap_or("?")
        ));
        Ok(())
    }
}

/// Being deleted but held by Argo CD's hook finalizer.
/// The Job with `uid` in `store` if Argo CD's hook finalizer holds it.
fn held_job(store: &Store<Job>, uid: &str) -> Option<Job> {
    store
        .state()
        .iter()
        .find(|j| j.metadata.uid.as_deref() == Some(uid) && gone::held(j))
        .map(|j| (**j).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(v: Value) -> Inputs {
        Inputs(v.as_object().cloned().unwrap())
    }

    #[test]
    fn plan_names_the_jobs_and_refuses_orphan() {
        let step = ArgoDeleteHooks(Connector::default());
        let ok = inputs(
            json!({"namespace": "web-x-dev", "app_namespace": "argocd", "app": "web-x-dev",
            "jobs": [{"name": "web-migrate", "uid": "u1"}]}),
        );
        let plan = step.plan(&ok).unwrap();
        assert!(plan.writes);
        assert_eq!(
            plan.description,
            "delete Job(s) web-migrate in web-x-dev with their Pods and wait until gone"
        );
        let mut orphan = ok.clone();
        orphan.0.insert("propagation".into(), json!("orphan"));
        assert!(step.plan(&orphan).is_err());
    }

    #[test]
    fn only_a_deleting_job_with_the_hook_finalizer_is_held() {
        let job = |yaml: &str| -> Job { serde_saphyr::from_str(yaml).unwrap() };
        assert!(gone::held(&job("metadata: {name: j, deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [argocd.argoproj.io/hook-finalizer]}")));
        assert!(!gone::held(&job(
            "metadata: {name: j, finalizers: [argocd.argoproj.io/hook-finalizer]}"
        )));
        assert!(!gone::held(&job(
            "metadata: {name: j, deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [other]}"
        )));
    }
}
