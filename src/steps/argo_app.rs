//! `uses: argo.app`: read an Argo CD Application's sync, health and last operation; with
//! `refuse_busy: true`, refuse (exit 3) while an operation is requested or running, as
//! `argocd app sync` does ("another operation is already in progress").

use crate::k8s::argo::{App, AppState};
use crate::k8s::Connector;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct ArgoApp(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "argo.app",
    summary: "read an Argo CD Application (sync, health, last operation)",
    inputs: &[
        input("namespace", true, "the Argo CD namespace, e.g. `argocd`"),
        input("name", true, "the Application"),
        input(
            "refuse_busy",
            false,
            "refuse while an operation is in progress (default false)",
        ),
    ],
    outputs: &["sync", "health", "phase", "message", "busy", "revision"],
    idempotent: true,
};

/// The refusal when an operation is in progress.
pub(super) fn busy_message(app: &App, state: &AppState) -> String {
    let by = state
        .initiated_by
        .as_ref()
        .map(|u| format!(", started by {u}"))
        .unwrap_or_default();
    format!(
        "{} already has an operation in progress (phase {}{by}); not starting another. Wait for it to finish (`cnpgops migrations status`) or stop it with `argocd app terminate-op {}`",
        app.object,
        state.phase.as_deref().unwrap_or("requested"),
        app.object.name
    )
}

#[async_trait::async_trait]
impl Step for ArgoApp {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        inputs.bool_or("refuse_busy", false)?;
        Ok(StepPlan {
            description: format!(
                "read Application {}/{} (sync, health, last operation)",
                inputs.str("namespace")?,
                inputs.str("name")?
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let kube = self.0.get().await?;
        let app = App::new(
            &kube,
            &ctx.inputs.str("namespace")?,
            &ctx.inputs.str("name")?,
        );
        let obj = app
            .get()
            .await
            .map_err(|e| StepError::BadInput(crate::error::chain(&e)))?;
        let state = AppState::of(&obj);
        ctx.events
            .log(format!("{}: {}", app.object, state.summary()));
        if state.busy() && ctx.inputs.bool_or("refuse_busy", false)? {
            return Err(StepError::Refused(busy_message(&app, &state)));
        }
        Ok(Outputs::default()
            .with("sync", state.sync.clone())
            .with("health", state.health.clone())
            .with("phase", state.phase.clone().unwrap_or_default())
            .with("message", state.message.clone().unwrap_or_default())
            .with("busy", state.busy())
            .with("revision", state.revision.clone().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_reads_only() {
        let inputs = Inputs(
            serde_json::json!({"namespace": "argocd", "name": "web-x-dev", "refuse_busy": true})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let plan = ArgoApp(Connector::default()).plan(&inputs).unwrap();
        assert!(!plan.writes);
        assert_eq!(
            plan.description,
            "read Application argocd/web-x-dev (sync, health, last operation)"
        );
    }
}
