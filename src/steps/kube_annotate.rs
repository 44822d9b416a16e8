//! `uses: kube.annotate`: set annotations on an object (a merge patch of
//! `metadata.annotations`, as field manager `cnpgops`; `dryRun=All` in `--dry-run`).

use kube::api::Patch;
use serde_json::{json, Value};

use crate::k8s::object::{ObjectArgs, API_VERSION, KIND, NAME, NAMESPACE};
use crate::k8s::{params, Connector, K8sError};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeAnnotate(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.annotate",
    summary: "set annotations on an object",
    inputs: &[
        API_VERSION,
        KIND,
        NAME,
        NAMESPACE,
        input("annotations", true, "key: value (values become strings)"),
    ],
    outputs: &["resourceVersion"],
    idempotent: true,
};

fn annotations(inputs: &Inputs) -> Result<serde_json::Map<String, Value>, StepError> {
    match inputs.get("annotations") {
        Some(Value::Object(map)) => Ok(map
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(crate::engine::plan::value_text(v))))
            .collect()),
        _ => Err(StepError::input(
            "annotations",
            "expected a mapping of keys to values",
        )),
    }
}

#[async_trait::async_trait]
impl Step for KubeAnnotate {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let args = ObjectArgs::from_inputs(inputs)?;
        let keys: Vec<String> = annotations(inputs)?.keys().cloned().collect();
        Ok(StepPlan {
            description: format!("annotate {} with {}", args.describe(), keys.join(", ")),
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let args = ObjectArgs::from_inputs(&ctx.inputs)?;
        let values = annotations(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let opened = args.open(&kube).await?;
        let patch = Patch::Merge(json!({"metadata": {"annotations": values}}));
        let patched = opened
            .api
            .patch(&opened.object.name, &params::patch(ctx.mode), &patch)
            .await
            .map_err(K8sError::api("annotate", &opened.object))?;
        let verb = if params::dry(ctx.mode) {
            "dry run: server accepted annotating"
        } else {
            "annotated"
        };
        let shown: Vec<String> = values
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::engine::plan::value_text(v)))
            .collect();
        ctx.events
            .log(format!("{verb} {}: {}", opened.object, shown.join(", ")));
        Ok(Outputs::default().with(
            "resourceVersion",
            patched.metadata.resource_version.unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::testing::inputs;

    #[test]
    fn the_plan_lists_the_keys_it_sets() {
        let plan = KubeAnnotate(Connector::default())
            .plan(&inputs(json!({"kind": "Cluster", "name": "app-dev-cnpg", "namespace": "databases",
                "annotations": {"cnpgops.io/refreshed-from": "databases/app-cnpg", "cnpgops.io/refreshed-at": "t"}})))
            .unwrap();
        assert_eq!(
            plan.description,
            "annotate Cluster databases/app-dev-cnpg with cnpgops.io/refreshed-at, cnpgops.io/refreshed-from"
        );
        assert!(plan.writes);
    }

    #[test]
    fn values_become_strings_and_a_list_is_refused() {
        let map = annotations(&inputs(
            json!({"annotations": {"n": 3, "b": true, "s": "x"}}),
        ))
        .unwrap();
        assert_eq!(Value::Object(map), json!({"n": "3", "b": "true", "s": "x"}));
        assert!(matches!(
            annotations(&inputs(json!({"annotations": ["a=b"]}))),
            Err(StepError::Input { name, .. }) if name == "annotations"
        ));
        assert!(annotations(&inputs(json!({}))).is_err());
    }
}
