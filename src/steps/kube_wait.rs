//! `uses: kube.wait`: wait for a named condition on one object, with an explicit timeout.
//!
//! Conditions are listed in `crate::k8s::conditions`. In `--dry-run` it checks once and does
//! not wait (what it waits for was only dry-run created). While waiting, each new
//! `status.phase` of the object is reported as progress; a Cluster whose bootstrap fails, or a
//! Job (`job_complete`) whose Pod cannot be created or started, fails the wait at once.

use crate::k8s::conditions::{Check, Condition, On};
use crate::k8s::object::{ObjectArgs, API_VERSION, KIND, NAME, NAMESPACE};
use crate::k8s::{job, params, wait, Connector, Kube, ObjectRef};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeWait(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.wait",
    summary: "wait for a named condition on a Kubernetes object (explicit timeout)",
    inputs: &[
        API_VERSION,
        KIND,
        NAME,
        NAMESPACE,
        input("condition", true, "cluster_healthy, job_complete, job_failed, exists, available, deleted or backup_completed"),
        input("timeout", true, "how long to wait, e.g. `10m`"),
    ],
    outputs: &["uid", "resourceVersion"],
    idempotent: true,
};

fn condition(inputs: &Inputs) -> Result<Condition, StepError> {
    Condition::parse(&inputs.str("condition")?).map_err(|e| StepError::input("condition", &e))
}

#[async_trait::async_trait]
impl Step for KubeWait {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let args = ObjectArgs::from_inputs(inputs)?;
        let cond = condition(inputs)?;
        let timeout = inputs.duration("timeout")?;
        Ok(StepPlan {
            description: format!(
                "wait up to {} for {} to be {}",
                humantime::format_duration(timeout),
                args.describe(),
                cond.name()
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let args = ObjectArgs::from_inputs(&ctx.inputs)?;
        let cond = condition(&ctx.inputs)?;
        let timeout = ctx.inputs.duration("timeout")?;
        let kube = self.0.get().await?;
        let opened = args.open(&kube).await?;
        let now = opened.get().await?;
        let uid = now.as_ref().and_then(|o| o.metadata.uid.clone());
        if params::dry(ctx.mode) {
            let verdict = match cond.check(now.as_ref(), uid.as_deref()) {
                Check::Ok => "holds now".to_string(),
                Check::Pending(s) | Check::Never(s) => format!("now: {s}"),
            };
            ctx.events.log(format!(
                "dry run: would wait up to {} for {} to be {} ({verdict})",
                humantime::format_duration(timeout),
                opened.object,
                cond.name()
            ));
            return Ok(Outputs::default());
        }
        ctx.events.progress(
            format!("waiting for {} to be {}", opened.object, cond.name()),
            None,
            None,
        );
        // While it waits, each change of `status.phase` the watch delivers (a Cluster's
        // "Setting up primary", ...) is progress; a Cluster whose bootstrap Job (e.g.
        // `<name>-1-full-recovery`) has failed will never be healthy — CNPG leaves its phase as
        // it was — so that fails the wait at once instead of at the timeout.
        let mut last = now.as_ref().and_then(phase_of).unwrap_or_default();
        let progress = |o: &kube::core::DynamicObject| {
            if let Some(phase) = phase_of(o).filter(|p| *p != last) {
                ctx.events
                    .progress(format!("{}: {phase}", opened.object), None, None);
                last = phase;
            }
        };
        let judge = On {
            condition: cond,
            uid,
        };
        let watch = wait::until_seeing(&opened.api, &opened.object, &judge, timeout, progress);
        let found = match (args.kind.as_str(), cond) {
            ("Cluster", _) => tokio::select! {
                found = watch => found?,
                failed = failed_bootstrap(&kube, &opened.object) => return Err(failed),
            },
            ("Job", Condition::JobComplete) => tokio::select! {
                found = watch => found?,
                stuck = job_not_starting(&kube, &opened.object) => return Err(stuck),
            },
            _ => watch.await?,
        };
        let meta = found.map(|o| o.metadata).unwrap_or_default();
        Ok(Outputs::default()
            .with("uid", meta.uid.unwrap_or_default())
            .with("resourceVersion", meta.resource_version.unwrap_or_default()))
    }
}

/// A Cluster's `status.phase`.
fn phase_of(o: &kube::core::DynamicObject) -> Option<String> {
    o.data
        .pointer("/status/phase")
        .and_then(|p| p.as_str())
        .map(String::from)
}

/// Returns (as the step's failure) once the Cluster's bootstrap Jobs (`cnpg.io/cluster=NAME`)
/// show it will not become healthy (`conditions::bootstrap`: a failed Job, Pods that keep
/// failing while CNPG retries, a Pod that cannot start); never returns otherwise (nor when
/// they cannot be watched: the wait on the Cluster itself decides then).
async fn failed_bootstrap(kube: &Kube, cluster: &ObjectRef) -> StepError {
    let ns = cluster.namespace.clone().unwrap_or_default();
    let selector = format!("cnpg.io/cluster={}", cluster.name);
    let Ok(failing) = job::bootstrap_failure(kube, &ns, &selector).await else {
        return std::future::pending().await;
    };
    // CNPG writes its reason only to the Pod's log: quote it, unchanged.
    let job_name = failing.job.rsplit('/').next().unwrap_or(&failing.job);
    let cnpg = job::cnpg_error(kube, &ns, job_name)
        .await
        .map(|e| format!("; CNPG says: {e}"))
        .unwrap_or_default();
    StepError::Failed(format!(
        "{cluster} will not become healthy: {}{cnpg}; see `kubectl -n {ns} logs job/{}`",
        failing.reason, failing.job
    ))
}

/// Returns (as the step's failure) once the Job's Pod cannot be created or started, or has
/// failed (`conditions::pod_start`); never returns otherwise (nor when they cannot be watched).
async fn job_not_starting(kube: &Kube, job: &ObjectRef) -> StepError {
    let ns = job.namespace.clone().unwrap_or_default();
    match job::start_failure(kube, &ns, &job.name).await {
        Ok(why) => StepError::Failed(format!("{job} will not complete: {why}")),
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_needs_a_known_condition_and_a_timeout() {
        let inputs = |v: serde_json::Value| Inputs(v.as_object().unwrap().clone());
        let ok = inputs(
            serde_json::json!({"kind": "Cluster", "name": "db", "namespace": "d", "condition": "cluster_healthy", "timeout": "5m"}),
        );
        let plan = KubeWait(Connector::default()).plan(&ok).unwrap();
        assert_eq!(
            plan.description,
            "wait up to 5m for Cluster d/db to be cluster_healthy"
        );
        let unknown = inputs(
            serde_json::json!({"kind": "Cluster", "name": "db", "condition": "healthy", "timeout": "5m"}),
        );
        assert!(KubeWait(Connector::default())
            .plan(&unknown)
            .unwrap_err()
            .to_string()
            .contains("known:"));
        let no_timeout =
            inputs(serde_json::json!({"kind": "Cluster", "name": "db", "condition": "exists"}));
        assert!(KubeWait(Connector::default()).plan(&no_timeout).is_err());
    }
}
