//! `uses: kube.delete`: delete one object (with propagation) and wait on its UID until gone.
//!
//! Already gone counts as done, so a resumed run can repeat it. In `--dry-run` the delete is
//! sent with `dryRun=All` and nothing is waited for.

use std::time::Duration;

use kube::api::PropagationPolicy;

use crate::k8s::conditions::Condition;
use crate::k8s::object::{ObjectArgs, API_VERSION, KIND, NAME, NAMESPACE};
use crate::k8s::{params, wait, Connector, K8sError};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeDelete(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.delete",
    summary: "delete a Kubernetes object and wait until it is gone",
    inputs: &[
        API_VERSION,
        KIND,
        NAME,
        NAMESPACE,
        input(
            "propagation",
            false,
            "background (default), foreground or orphan",
        ),
        input(
            "timeout",
            false,
            "how long to wait until it is gone (default 5m)",
        ),
    ],
    outputs: &["deleted", "uid"],
    idempotent: true,
};

fn propagation(inputs: &Inputs) -> Result<PropagationPolicy, StepError> {
    match inputs.opt_str("propagation")?.as_deref() {
        None | Some("background") => Ok(PropagationPolicy::Background),
        Some("foreground") => Ok(PropagationPolicy::Foreground),
        Some("orphan") => Ok(PropagationPolicy::Orphan),
        Some(_) => Err(StepError::input(
            "propagation",
            "expected background, foreground or orphan",
        )),
    }
}

fn timeout(inputs: &Inputs) -> Result<Duration, StepError> {
    match inputs.get("timeout") {
        None => Ok(Duration::from_secs(300)),
        Some(_) => inputs.duration("timeout"),
    }
}

#[async_trait::async_trait]
impl Step for KubeDelete {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let args = ObjectArgs::from_inputs(inputs)?;
        propagation(inputs)?;
        timeout(inputs)?;
        Ok(StepPlan {
            description: format!("delete {} and wait until it is gone", args.describe()),
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let args = ObjectArgs::from_inputs(&ctx.inputs)?;
        let (policy, limit) = (propagation(&ctx.inputs)?, timeout(&ctx.inputs)?);
        let kube = self.0.get().await?;
        let opened = args.open(&kube).await?;
        let Some(obj) = opened.get().await? else {
            ctx.events.log(format!("{} is already gone", opened.object));
            return Ok(Outputs::default().with("deleted", false));
        };
        let uid = obj.metadata.uid.clone();
        let dp = params::delete(ctx.mode, policy, uid.clone());
        match opened.api.delete(&opened.object.name, &dp).await {
            Ok(_) => {}
            Err(e) if crate::k8s::error::status_code(&e) == Some(404) => {}
            Err(e) => return Err(K8sError::api("delete", &opened.object)(e).into()),
        }
        let out = Outputs::default().with("uid", uid.clone().unwrap_or_default());
        if params::dry(ctx.mode) {
            ctx.events.log(format!(
                "dry run: server accepted deleting {}",
                opened.object
            ));
            return Ok(out.with("deleted", false));
        }
        ctx.events.progress(
            format!("waiting for {} to be gone", opened.object),
            None,
            None,
        );
        wait::until(&opened.api, &opened.object, Condition::Deleted, uid, limit).await?;
        ctx.events.log(format!("deleted {}", opened.object));
        Ok(out.with("deleted", true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_checks_propagation() {
        let inputs = |v: serde_json::Value| Inputs(v.as_object().unwrap().clone());
        let ok = inputs(
            serde_json::json!({"kind": "Job", "name": "j", "namespace": "n", "propagation": "foreground"}),
        );
        assert_eq!(
            KubeDelete(Connector::default())
                .plan(&ok)
                .unwrap()
                .description,
            "delete Job n/j and wait until it is gone"
        );
        let bad =
            inputs(serde_json::json!({"kind": "Job", "name": "j", "propagation": "sideways"}));
        assert!(KubeDelete(Connector::default()).plan(&bad).is_err());
    }
}
