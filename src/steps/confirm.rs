//! `uses: confirm`: an explicit confirmation point; the person types the `target` name.
//!
//! The kind does nothing itself: it declares the name to type through
//! [`Step::confirmation_target`], and the engine asks exactly as for a destructive step
//! (`engine::confirm`): `--yes` answers, no terminal and no `--yes` refuses (exit 3) before the
//! step (up front when the target renders without step outputs), and `prod: true` also needs
//! `--allow-prod`. A confirmation recorded as `succeeded` is kept on resume, like a finished
//! destructive step: the person already agreed to this run.

use crate::engine::step::RunMode;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct Confirm;

static SIGNATURE: KindSignature = KindSignature {
    name: "confirm",
    summary: "ask the person to type a target's name before going on",
    inputs: &[
        input("target", true, "the name the person must type"),
        input(
            "message",
            false,
            "what is being confirmed (shown in the prompt)",
        ),
        input(
            "prod",
            false,
            "the target is production: also needs --allow-prod (default false)",
        ),
    ],
    outputs: &["target"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for Confirm {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let target = inputs.str("target")?;
        let description = match inputs.opt_str("message")? {
            Some(message) => message,
            None => format!("go on with `{target}`"),
        };
        Ok(StepPlan {
            description,
            writes: false,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let target = ctx.inputs.str("target")?;
        if ctx.mode == RunMode::Real {
            ctx.events.log(format!("confirmed `{target}`"));
        }
        Ok(Outputs::default().with("target", target))
    }

    fn confirmation_target(&self, inputs: &Inputs) -> Result<Option<String>, StepError> {
        inputs.str("target").map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(v: serde_json::Value) -> Inputs {
        Inputs(v.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn plans_a_read_that_asks_for_the_target() {
        let i = inputs(serde_json::json!({"target": "app-prod", "prod": true}));
        let plan = Confirm.plan(&i).unwrap();
        assert!(!plan.writes && plan.prod);
        assert_eq!(
            Confirm.confirmation_target(&i).unwrap().as_deref(),
            Some("app-prod")
        );
        assert!(Confirm.plan(&inputs(serde_json::json!({}))).is_err());
    }
}
