//! `uses: argo.failed_hooks`: find the failed migration Jobs of an app namespace (Argo CD hook
//! Jobs, or Jobs matching the migration label selector), keep their Pods' logs (redacted: the
//! Secrets the Pods use are taught to the redactor first) as outputs, and report the failing
//! lines. None found is not an error: `count` is 0 and later steps skip.

use serde_json::{json, Value};

use crate::k8s::hook_jobs::{self, failing_lines};
use crate::k8s::Connector;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct ArgoFailedHooks(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "argo.failed_hooks",
    summary: "find failed Argo CD hook / migration Jobs and keep their logs",
    inputs: &[
        input("namespace", true, "the app namespace"),
        input(
            "selector",
            false,
            "label selector of migration Jobs that are not Argo CD hooks",
        ),
    ],
    outputs: &["jobs", "names", "count"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for ArgoFailedHooks {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let selector = inputs.opt_str("selector")?.unwrap_or_default();
        let also = if selector.is_empty() {
            String::new()
        } else {
            format!(" or labelled `{selector}`")
        };
        Ok(StepPlan {
            description: format!(
                "find failed Argo CD hook Jobs{also} in {} and read their logs",
                inputs.str("namespace")?
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let ns = ctx.inputs.str("namespace")?;
        let selector = ctx.inputs.opt_str("selector")?.unwrap_or_default();
        let kube = self.0.get().await?;
        let found = hook_jobs::list(&kube, &ns, &selector).await?;
        let mut jobs = vec![];
        for (job, h) in found.iter().filter(|(_, h)| h.failed()) {
            for name in hook_jobs::learn_secrets(&kube, &ns, job, &ctx.redactor).await {
                ctx.events.warn(format!(
                    "could not read Secret {ns}/{name} (used by Job {}): its values are not known to the redactor",
                    h.name
                ));
            }
            let logs = hook_jobs::logs(&kube, &ns, &h.name, &h.uid).await?;
            ctx.events.warn(format!(
                "Job {ns}/{} ({}) failed: {}",
                h.name,
                h.what(),
                h.reason.as_deref().unwrap_or("no reason given")
            ));
            let mut lines = vec![];
            for (pod, text) in &logs {
                for line in failing_lines(&ctx.redactor.redact(text)) {
                    ctx.events.warn(format!("  {pod}: {line}"));
                    lines.push(line);
                }
            }
            jobs.push(
                json!({"name": h.name, "uid": h.uid, "hook": h.hook, "reason": h.reason,
                "failing_lines": lines, "logs": ctx.redactor.redact_json(&json!(logs))}),
            );
        }
        if jobs.is_empty() {
            ctx.events.log(format!(
                "no failed migration Jobs in {ns} ({} hook or migration Jobs, none failed): nothing to do",
                found.len()
            ));
        }
        let names: Vec<Value> = jobs.iter().map(|j| j["name"].clone()).collect();
        Ok(Outputs::default()
            .with("count", jobs.len())
            .with("names", names)
            .with("jobs", jobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_the_selector() {
        let inputs = Inputs(
            json!({"namespace": "web-x-dev", "selector": "app.kubernetes.io/component=migrations"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let plan = ArgoFailedHooks(Connector::default()).plan(&inputs).unwrap();
        assert!(!plan.writes);
        assert!(plan
            .description
            .contains("or labelled `app.kubernetes.io/component=migrations` in web-x-dev"));
    }
}
