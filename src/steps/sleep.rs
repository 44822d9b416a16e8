//! `uses: sleep`: wait for a duration; a resumed run only waits for what was left.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct Sleep;

static SIGNATURE: KindSignature = KindSignature {
    name: "sleep",
    summary: "wait for a duration (interruptible; resume waits only for the rest)",
    inputs: &[input("duration", true, "how long, e.g. `30s`")],
    outputs: &[],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for Sleep {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let d = inputs.duration("duration")?;
        Ok(StepPlan {
            description: format!("wait {}", humantime::format_duration(d)),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let duration = ctx.inputs.duration("duration")?;
        let notes = ctx.checkpoint.notes(&ctx.step_id).await;
        let deadline = match notes
            .get("deadline")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        {
            Some(deadline) => deadline,
            None => {
                let deadline =
                    Utc::now() + chrono::Duration::from_std(duration).unwrap_or_default();
                ctx.checkpoint
                    .note(&ctx.step_id, "deadline", Value::from(deadline.to_rfc3339()))
                    .await
                    .map_err(|e| StepError::Failed(format!("failed to save the deadline: {e}")))?;
                deadline
            }
        };
        let left = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        ctx.events.progress(
            format!("waiting {}", humantime::format_duration(round(left))),
            None,
            None,
        );
        ctx.sleep(left).await?;
        Ok(Outputs::default())
    }
}

fn round(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::step::RunMode;

    #[tokio::test]
    async fn waits_and_can_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = super::super::testing::context(
            serde_json::json!({"duration": "10ms"}),
            RunMode::Real,
            dir.path(),
        );
        assert!(Sleep.run(&ctx).await.is_ok());
        let (ctx, _) = super::super::testing::context(
            serde_json::json!({"duration": "1h"}),
            RunMode::Real,
            dir.path(),
        );
        ctx.cancel.cancel();
        assert!(matches!(Sleep.run(&ctx).await, Err(StepError::Cancelled)));
    }

    #[tokio::test]
    async fn resumed_sleep_only_waits_until_the_saved_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = super::super::testing::context(
            serde_json::json!({"duration": "1h"}),
            RunMode::Real,
            dir.path(),
        );
        let past = (Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
        ctx.checkpoint
            .note("s", "deadline", Value::from(past))
            .await
            .unwrap();
        let t0 = std::time::Instant::now();
        Sleep.run(&ctx).await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
