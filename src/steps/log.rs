//! `uses: log`: emit a message as an event (steps never print).

use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct Log;

static SIGNATURE: KindSignature = KindSignature {
    name: "log",
    summary: "emit a message",
    inputs: &[input("message", true, "the text to show")],
    outputs: &["message"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for Log {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        Ok(StepPlan {
            description: format!("log \"{}\"", inputs.str("message")?),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let message = ctx.inputs.str("message")?;
        ctx.events.log(message.clone());
        Ok(Outputs::default().with("message", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::step::RunMode;
    use crate::engine::Event;

    #[tokio::test]
    async fn logs_and_outputs_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, rec) = super::super::testing::context(
            serde_json::json!({"message": "hi"}),
            RunMode::Real,
            dir.path(),
        );
        let out = Log.run(&ctx).await.unwrap();
        assert_eq!(out.values["message"], "hi");
        assert!(matches!(&rec.events()[0], Event::StepLog { message, .. } if message == "hi"));
    }
}
