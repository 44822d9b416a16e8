//! `uses: kube.event`: record a Kubernetes Event about an object (`kubectl describe` and
//! `kubectl get events` show it), reported by `cnpgops`; in `--dry-run` sent with `dryRun=All`.

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use serde_json::{json, Value};

use crate::k8s::object::{ObjectArgs, API_VERSION, KIND, NAME, NAMESPACE};
use crate::k8s::{params, Connector, K8sError, ObjectRef};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeEvent(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.event",
    summary: "record a Kubernetes Event about an object",
    inputs: &[
        API_VERSION,
        KIND,
        NAME,
        NAMESPACE,
        input("reason", true, "CamelCase reason, e.g. `Refreshed`"),
        input("message", true, "what happened"),
        input("type", false, "Normal (default) or Warning"),
    ],
    outputs: &["name"],
    idempotent: true,
};

/// `type:`, `Normal` when absent; the only two types Kubernetes Events have.
fn event_type(inputs: &Inputs) -> Result<String, StepError> {
    match inputs.opt_str("type")?.as_deref() {
        None | Some("Normal") => Ok("Normal".into()),
        Some("Warning") => Ok("Warning".into()),
        Some(_) => Err(StepError::input("type", "expected Normal or Warning")),
    }
}

#[async_trait::async_trait]
impl Step for KubeEvent {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let args = ObjectArgs::from_inputs(inputs)?;
        event_type(inputs)?;
        Ok(StepPlan {
            description: format!(
                "record Event `{}` on {}",
                inputs.str("reason")?,
                args.describe()
            ),
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let args = ObjectArgs::from_inputs(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let opened = args.open(&kube).await?;
        let obj = opened.get().await?.ok_or_else(|| K8sError::NotFound {
            object: opened.object.clone(),
        })?;
        let ns = opened
            .object
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let now = chrono::Utc::now();
        let message = ctx
            .redactor
            .redact(&ctx.inputs.str("message")?)
            .into_owned();
        let name = format!(
            "{}.{:x}",
            opened.object.name,
            now.timestamp_nanos_opt().unwrap_or_default()
        );
        let body: Value = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {"apiVersion": opened.kind.resource.api_version, "kind": opened.kind.resource.kind,
                "name": opened.object.name, "namespace": ns, "uid": obj.metadata.uid},
            "reason": ctx.inputs.str("reason")?, "message": message,
            "type": event_type(&ctx.inputs)?,
            "source": {"component": "cnpgops"}, "reportingComponent": "cnpgops", "reportingInstance": "cnpgops",
            "firstTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "lastTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "count": 1,
        });
        let event: Event = serde_json::from_value(body)
            .map_err(|e| StepError::Failed(format!("failed to build the Event: {e}")))?;
        let events: Api<Event> = Api::namespaced(kube.client.clone(), &ns);
        let what = ObjectRef::new("Event", Some(&ns), &name);
        events
            .create(&params::post(ctx.mode), &event)
            .await
            .map_err(K8sError::api("create", &what))?;
        let verb = if params::dry(ctx.mode) {
            "dry run: server accepted recording"
        } else {
            "recorded"
        };
        ctx.events.log(format!(
            "{verb} Event {} on {}: {message}",
            ctx.inputs.str("reason")?,
            opened.object
        ));
        Ok(Outputs::default().with("name", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::testing::inputs;

    fn with(extra: Value) -> Inputs {
        let mut base = json!({"kind": "Cluster", "name": "app-dev-cnpg", "namespace": "databases",
            "reason": "Refreshed", "message": "refreshed from prod"});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        inputs(base)
    }

    #[test]
    fn the_plan_names_the_reason_and_the_object() {
        let plan = KubeEvent(Connector::default())
            .plan(&with(json!({})))
            .unwrap();
        assert_eq!(
            plan.description,
            "record Event `Refreshed` on Cluster databases/app-dev-cnpg"
        );
        assert!(plan.writes);
        let no_reason = inputs(json!({"kind": "Cluster", "name": "c", "message": "m"}));
        assert!(KubeEvent(Connector::default()).plan(&no_reason).is_err());
    }

    #[test]
    fn the_type_is_normal_or_warning() {
        assert_eq!(event_type(&with(json!({}))).unwrap(), "Normal");
        assert_eq!(
            event_type(&with(json!({"type": "Warning"}))).unwrap(),
            "Warning"
        );
        let bad = KubeEvent(Connector::default()).plan(&with(json!({"type": "Error"})));
        assert!(matches!(bad, Err(StepError::Input { name, .. }) if name == "type"));
    }
}
