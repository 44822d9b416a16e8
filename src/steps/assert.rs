//! `uses: assert`: fail with a message when a condition is false.

use serde_json::Value;

use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct Assert;

static SIGNATURE: KindSignature = KindSignature {
    name: "assert",
    summary: "fail with a message when a condition is false",
    inputs: &[
        input("that", true, "the condition, usually `{{ expression }}`"),
        input("message", false, "why it must hold"),
    ],
    outputs: &[],
    idempotent: true,
};

/// Jinja-like truthiness of a rendered value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !(s.is_empty() || s == "false" || s == "False"),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[async_trait::async_trait]
impl Step for Assert {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let what = inputs
            .opt_str("message")?
            .unwrap_or_else(|| "the condition holds".into());
        Ok(StepPlan {
            description: format!("check that {what}"),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        if truthy(ctx.inputs.get("that").unwrap_or(&Value::Null)) {
            return Ok(Outputs::default());
        }
        let message = ctx
            .inputs
            .opt_str("message")?
            .unwrap_or_else(|| "condition is false".into());
        Err(StepError::Failed(format!("assertion failed: {message}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::step::RunMode;

    #[tokio::test]
    async fn passes_on_true_and_fails_with_the_message_on_false() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = super::super::testing::context(
            serde_json::json!({"that": true}),
            RunMode::Real,
            dir.path(),
        );
        assert!(Assert.run(&ctx).await.is_ok());
        let inputs = serde_json::json!({"that": "false", "message": "db is empty"});
        let (ctx, _) = super::super::testing::context(inputs, RunMode::Real, dir.path());
        let err = Assert.run(&ctx).await.unwrap_err();
        assert_eq!(err.to_string(), "assertion failed: db is empty");
    }

    #[test]
    fn truthiness() {
        for (v, t) in [
            (Value::from(0), false),
            (Value::from(""), false),
            (Value::from("x"), true),
            (Value::Null, false),
        ] {
            assert_eq!(truthy(&v), t, "{v}");
        }
    }
}
