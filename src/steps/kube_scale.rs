//! `uses: kube.scale`: set a Deployment's (or StatefulSet's) replicas through the `scale`
//! subresource; the replicas before are the output `previous`, so a later `always` step can
//! restore them. The first attempt notes `previous` in the checkpoint, so a resumed run
//! restores the original count, not the already-scaled one.

use kube::api::Patch;
use serde_json::{json, Value};

use crate::k8s::object::{ObjectArgs, API_VERSION, NAME, NAMESPACE};
use crate::k8s::{params, Connector, K8sError};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeScale(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.scale",
    summary: "scale a Deployment or StatefulSet; outputs the previous replicas",
    inputs: &[
        API_VERSION,
        input("kind", false, "Deployment (default) or StatefulSet"),
        NAME,
        NAMESPACE,
        input("replicas", true, "the new number of replicas"),
    ],
    outputs: &["previous", "replicas"],
    idempotent: true,
};

fn args(inputs: &Inputs) -> Result<(ObjectArgs, i64), StepError> {
    let mut with_kind = inputs.clone();
    with_kind
        .0
        .entry("kind")
        .or_insert_with(|| Value::from("Deployment"));
    let replicas = inputs.int("replicas")?;
    if replicas < 0 {
        return Err(StepError::input("replicas", "must not be negative"));
    }
    Ok((ObjectArgs::from_inputs(&with_kind)?, replicas))
}

#[async_trait::async_trait]
impl Step for KubeScale {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let (object, replicas) = args(inputs)?;
        Ok(StepPlan {
            description: format!("scale {} to {replicas} replicas", object.describe()),
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (object, replicas) = args(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let opened = object.open(&kube).await?;
        let name = &opened.object.name;
        let noted = ctx
            .checkpoint
            .notes(&ctx.step_id)
            .await
            .get("previous")
            .and_then(Value::as_i64);
        let previous = match noted {
            Some(previous) => previous,
            None => {
                let scale = opened
                    .api
                    .get_scale(name)
                    .await
                    .map_err(K8sError::api("read the scale of", &opened.object))?;
                let previous = i64::from(scale.spec.and_then(|s| s.replicas).unwrap_or(0));
                if !params::dry(ctx.mode) {
                    ctx.checkpoint
                        .note(&ctx.step_id, "previous", Value::from(previous))
                        .await
                        .map_err(|e| {
                            StepError::Failed(format!("failed to save the previous replicas: {e}"))
                        })?;
                }
                previous
            }
        };
        let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
        opened
            .api
            .patch_scale(name, &params::patch(ctx.mode), &patch)
            .await
            .map_err(K8sError::api("scale", &opened.object))?;
        let verb = if params::dry(ctx.mode) {
            "dry run: server accepted scaling"
        } else {
            "scaled"
        };
        ctx.events.log(format!(
            "{verb} {} from {previous} to {replicas} replicas",
            opened.object
        ));
        Ok(Outputs::default()
            .with("previous", previous)
            .with("replicas", replicas))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_defaults_to_deployment_and_replicas_are_checked() {
        let inputs = |v: serde_json::Value| Inputs(v.as_object().unwrap().clone());
        let plan = KubeScale(Connector::default())
            .plan(&inputs(
                json!({"name": "app", "namespace": "web", "replicas": "0"}),
            ))
            .unwrap();
        assert_eq!(plan.description, "scale Deployment web/app to 0 replicas");
        assert!(KubeScale(Connector::default())
            .plan(&inputs(json!({"name": "app", "replicas": -1})))
            .is_err());
        assert!(KubeScale(Connector::default())
            .plan(&inputs(json!({"name": "app", "replicas": "many"})))
            .is_err());
    }
}
