//! `uses: kube.rollout_restart`: `kubectl rollout restart` for the Deployments of a namespace
//! (optionally those matching a label selector): the pod template annotation
//! `kubectl.kubernetes.io/restartedAt` set to now, as kubectl writes it, so the pods are
//! replaced and reconnect (e.g. after their database was restored). None found is not an error.
//!
//! The time is noted in the checkpoint before the first write: an attempt after a crash writes
//! the same value again, which changes nothing, instead of rolling the app out a second time.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ListParams, Patch};
use kube::Api;
use serde_json::{json, Value};

use crate::k8s::{params, Connector, K8sError, ObjectRef};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeRolloutRestart(pub Connector);

/// The annotation kubectl sets.
pub(super) const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.rollout_restart",
    summary: "rollout-restart the Deployments of a namespace (like kubectl rollout restart)",
    inputs: &[
        input("namespace", true, "the app's namespace"),
        input(
            "selector",
            false,
            "a label selector (default: every Deployment)",
        ),
    ],
    outputs: &["restarted", "at"],
    idempotent: true,
};

fn selector(i: &Inputs) -> Result<Option<String>, StepError> {
    Ok(i.opt_str("selector")?.filter(|s| !s.trim().is_empty()))
}

/// The time an earlier attempt noted, or now (noted before anything is written).
async fn restart_time(ctx: &StepContext) -> Result<String, StepError> {
    let noted = ctx.checkpoint.notes(&ctx.step_id).await;
    if let Some(at) = noted.get("at").and_then(Value::as_str) {
        ctx.events.log(format!(
            "restarting as an earlier attempt did ({RESTARTED_AT}={at})"
        ));
        return Ok(at.to_string());
    }
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if !params::dry(ctx.mode) {
        ctx.checkpoint
            .note(&ctx.step_id, "at", Value::from(at.clone()))
            .await
            .map_err(|e| StepError::Failed(format!("failed to record the restart time: {e}")))?;
    }
    Ok(at)
}

#[async_trait::async_trait]
impl Step for KubeRolloutRestart {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let ns = inputs.str("namespace")?;
        let which = match selector(inputs)? {
            Some(s) => format!("the Deployments matching `{s}`"),
            None => "every Deployment".into(),
        };
        Ok(StepPlan {
            description: format!("rollout-restart {which} in namespace {ns}"),
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let ns = ctx.inputs.str("namespace")?;
        let kube = self.0.get().await?;
        let api: Api<Deployment> = Api::namespaced(kube.client.clone(), &ns);
        let mut lp = ListParams::default();
        if let Some(s) = selector(&ctx.inputs)? {
            lp = lp.labels(&s);
        }
        let list = api.list(&lp).await.map_err(K8sError::api(
            "list",
            &ObjectRef::new("Deployment", Some(&ns), "(all)"),
        ))?;
        let at = restart_time(ctx).await?;
        let patch =
            json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}});
        let mut restarted = Vec::new();
        for d in &list.items {
            let name = d.metadata.name.clone().unwrap_or_default();
            let object = ObjectRef::new("Deployment", Some(&ns), &name);
            api.patch(&name, &params::patch(ctx.mode), &Patch::Strategic(&patch))
                .await
                .map_err(K8sError::api("restart", &object))?;
            restarted.push(Value::from(name));
        }
        let verb = if params::dry(ctx.mode) {
            "dry run: server accepted restarting"
        } else {
            "restarted"
        };
        ctx.events.log(format!(
            "{verb} {} Deployment(s) in {ns} ({RESTARTED_AT}={at})",
            restarted.len()
        ));
        Ok(Outputs::default()
            .with("restarted", Value::Array(restarted))
            .with("at", at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::step::RunMode;
    use crate::steps::testing::context;

    #[tokio::test]
    async fn a_second_attempt_restarts_with_the_time_the_first_noted() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = context(json!({"namespace": "web"}), RunMode::Real, dir.path());
        let first = restart_time(&ctx).await.unwrap();
        let noted = ctx.checkpoint.notes("s").await;
        assert_eq!(noted["at"], first.as_str(), "noted before any write");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            restart_time(&ctx).await.unwrap(),
            first,
            "the same value again"
        );
    }

    #[tokio::test]
    async fn a_dry_run_notes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = context(json!({"namespace": "web"}), RunMode::DryRun, dir.path());
        restart_time(&ctx).await.unwrap();
        assert!(ctx.checkpoint.notes("s").await.is_empty());
    }
}
