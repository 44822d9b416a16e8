//! `uses: kube.get`: read one object; its fields become outputs (a read: runs in `--dry-run`).
//!
//! Secrets are refused: their data would land in checkpoints and reports.

use serde_json::{Map, Value};

use crate::k8s::object::{ObjectArgs, API_VERSION, KIND, NAME, NAMESPACE};
use crate::k8s::{Connector, K8sError};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeGet(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.get",
    summary: "read a Kubernetes object and output its fields",
    inputs: &[
        API_VERSION,
        KIND,
        NAME,
        NAMESPACE,
        input(
            "fields",
            false,
            "outputs to extract: `{phase: status.phase}` (dotted path or /json/pointer)",
        ),
        input(
            "optional",
            false,
            "a missing object gives `exists: false` instead of failing (default false)",
        ),
    ],
    outputs: &["exists", "uid", "resourceVersion", "fields", "object"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for KubeGet {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let args = ObjectArgs::from_inputs(inputs)?;
        refuse_secrets(&args)?;
        fields(inputs)?;
        Ok(StepPlan {
            description: format!("read {}", args.describe()),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let args = ObjectArgs::from_inputs(&ctx.inputs)?;
        refuse_secrets(&args)?;
        let wanted = fields(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let opened = args.open(&kube).await?;
        let Some(obj) = opened.get().await? else {
            if ctx.inputs.bool_or("optional", false)? {
                ctx.events.log(format!("{} does not exist", opened.object));
                return Ok(Outputs::default().with("exists", false));
            }
            return Err(K8sError::NotFound {
                object: opened.object,
            }
            .into());
        };
        let mut value = serde_json::to_value(&obj).map_err(|e| StepError::Failed(e.to_string()))?;
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        let mut extracted = Map::new();
        for (key, path) in wanted {
            let found = value
                .pointer(&pointer(&path))
                .cloned()
                .unwrap_or(Value::Null);
            extracted.insert(key, found);
        }
        ctx.events.log(format!(
            "read {} (resourceVersion {})",
            opened.object,
            obj.metadata.resource_version.clone().unwrap_or_default()
        ));
        Ok(Outputs::default()
            .with("exists", true)
            .with("uid", obj.metadata.uid.clone().unwrap_or_default())
            .with(
                "resourceVersion",
                obj.metadata.resource_version.clone().unwrap_or_default(),
            )
            .with("fields", Value::Object(extracted))
            .with("object", value))
    }
}

fn refuse_secrets(args: &ObjectArgs) -> Result<(), StepError> {
    if args.kind == "Secret" {
        return Err(StepError::input(
            "kind",
            "kube.get does not read Secrets (their data would be stored in the run state)",
        ));
    }
    Ok(())
}

/// `fields:` as (output key, path) pairs.
fn fields(inputs: &Inputs) -> Result<Vec<(String, String)>, StepError> {
    match inputs.get("fields") {
        None => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(path) => Ok((k.clone(), path.clone())),
                _ => Err(StepError::input("fields", "expected `name: path` pairs")),
            })
            .collect(),
        Some(_) => Err(StepError::input(
            "fields",
            "expected a mapping of output names to paths",
        )),
    }
}

/// `status.phase` -> `/status/phase`; a path starting with `/` is already a JSON pointer.
pub(super) fn pointer(path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    path.split('.')
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_pointers() {
        assert_eq!(pointer("status.phase"), "/status/phase");
        assert_eq!(
            pointer("status.conditions.0.type"),
            "/status/conditions/0/type"
        );
        assert_eq!(
            pointer("/metadata/labels/app.kubernetes.io~1name"),
            "/metadata/labels/app.kubernetes.io~1name"
        );
    }

    #[test]
    fn secrets_and_bad_fields_are_refused_at_plan() {
        let inputs = |v: Value| Inputs(v.as_object().unwrap().clone());
        let secret = inputs(serde_json::json!({"kind": "Secret", "name": "s"}));
        assert!(KubeGet(Connector::default()).plan(&secret).is_err());
        let bad = inputs(serde_json::json!({"kind": "Cluster", "name": "c", "fields": ["x"]}));
        assert!(KubeGet(Connector::default()).plan(&bad).is_err());
        let ok = inputs(
            serde_json::json!({"kind": "Cluster", "name": "c", "namespace": "d", "fields": {"phase": "status.phase"}}),
        );
        let plan = KubeGet(Connector::default()).plan(&ok).unwrap();
        assert_eq!(plan.description, "read Cluster d/c");
        assert!(!plan.writes);
    }
}
