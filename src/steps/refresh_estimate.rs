//! `uses: refresh.estimate`: how long refreshing dev is expected to take by dump and by
//! recovery at the source's actual size (`refresh::estimate`: earlier runs of the app from the
//! run-state store, else the built-in fits), logged before the confirmation and in a dry run,
//! and which is expected faster. Records the size (`bytes`) for the estimates of later runs.

use crate::refresh::estimate::{self, Estimate};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct RefreshEstimate;

static SIGNATURE: KindSignature = KindSignature {
    name: "refresh.estimate",
    summary: "estimate the refresh's time by dump and by recovery from earlier runs",
    inputs: &[
        input("app", true, "the app whose earlier runs count"),
        input("to", true, "the target env whose earlier runs count"),
        input(
            "bytes",
            true,
            "the size being refreshed (the source database, or the base backup)",
        ),
    ],
    outputs: &[
        "bytes",
        "dump_seconds",
        "recovery_seconds",
        "faster",
        "crossover_bytes",
    ],
    idempotent: true,
};

fn bytes(inputs: &Inputs) -> Result<u64, StepError> {
    u64::try_from(inputs.int("bytes")?)
        .map_err(|_| StepError::input("bytes", "expected a size in bytes, 0 or more"))
}

#[async_trait::async_trait]
impl Step for RefreshEstimate {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        Ok(StepPlan {
            description: format!(
                "estimate the refresh of {} into {} by dump and by recovery at {} bytes, from earlier runs (else built-in fits)",
                inputs.str("app")?,
                inputs.str("to")?,
                inputs.str("bytes")?
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (app, to, size) = (
            ctx.inputs.str("app")?,
            ctx.inputs.str("to")?,
            bytes(&ctx.inputs)?,
        );
        let runs = match ctx.checkpoint.runs().await {
            Ok(runs) => runs,
            Err(e) => {
                // An estimate is advice: without the history, the built-in fits still answer.
                ctx.events.log(format!(
                    "earlier runs not read ({}): built-in fits only",
                    crate::error::chain(&e)
                ));
                Vec::new()
            }
        };
        let e = estimate::estimate(size, &estimate::samples(&runs, &app, &to));
        ctx.events.log(e.line());
        Ok(outputs(&e))
    }
}

fn outputs(e: &Estimate) -> Outputs {
    let round = |s: f64| (s * 10.0).round() / 10.0;
    Outputs::default()
        .with("bytes", e.bytes)
        .with("dump_seconds", round(e.dump.seconds))
        .with("recovery_seconds", round(e.recovery.seconds))
        .with("faster", e.faster().name())
        .with("crossover_bytes", e.crossover())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::step::RunMode;
    use crate::engine::Event;

    #[tokio::test]
    async fn with_no_earlier_runs_the_built_in_fits_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, rec) = super::super::testing::context(
            serde_json::json!({"app": "shop", "to": "dev", "bytes": 1u64 << 30}),
            RunMode::Real,
            dir.path(),
        );
        let out = RefreshEstimate.run(&ctx).await.unwrap();
        let want = estimate::DEFAULT_DUMP.at(1 << 30);
        assert_eq!(out.values["bytes"], 1u64 << 30);
        assert_eq!(out.values["dump_seconds"], (want * 10.0).round() / 10.0);
        let logged = rec.events().iter().any(|e| {
            matches!(e, Event::StepLog { message, .. } if message.starts_with("estimate for 1073741824 bytes"))
        });
        assert!(logged, "{:?}", rec.events());
    }

    #[test]
    fn a_negative_size_is_bad_input() {
        let serde_json::Value::Object(map) = serde_json::json!({"bytes": -1}) else {
            unreachable!()
        };
        let i = Inputs(map);
        assert!(bytes(&i).unwrap_err().to_string().contains("bytes"));
    }
}
