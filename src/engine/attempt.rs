//! One step's attempts: retries with exponential backoff, timeout, cancellation, outcome.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use super::checkpoint::{RunStatus, StepStatus};
use super::events::{Event, StepEvents};
use super::execute::{finished, Flow, Run};
use super::step::{Inputs, Outputs, Step, StepContext, StepError};
use super::EngineError;
use crate::redact::ExposeSecret;
use crate::runbook::template::StepScope;
use crate::runbook::StepSpec;

impl Run<'_> {
    /// Tries the step up to `retries.attempts` times.
    pub(super) async fn attempts(
        &mut self,
        spec: &StepSpec,
        kind: &dyn Step,
        inputs: Inputs,
        before: u32,
    ) -> Result<Flow, EngineError> {
        let mut backoff = spec.retries.backoff;
        for n in 1..=spec.retries.attempts {
            let attempt = before + n;
            self.handle
                .update(|s| {
                    if let Some(st) = s.step_mut(&spec.id) {
                        st.status = StepStatus::Running;
                        st.attempts = attempt;
                        st.started_at = Some(Utc::now());
                        st.finished_at = None;
                        st.error = None;
                    }
                })
                .await?;
            let events = StepEvents::new(&spec.id, self.engine.reporter.clone());
            let description = kind
                .plan(&inputs)
                .map(|p| p.description)
                .unwrap_or_default();
            self.engine.reporter.event(&Event::StepStarted {
                step: spec.id.clone(),
                uses: spec.uses.clone(),
                attempt,
                description,
            });
            let ctx = StepContext {
                step_id: spec.id.clone(),
                inputs: inputs.clone(),
                cancel: self.cancel.child_token(),
                events: events.clone(),
                redactor: self.engine.redactor.clone(),
                mode: self.mode,
                checkpoint: self.handle.clone(),
                attempt,
            };
            trace_start(spec, &inputs, attempt);
            let t0 = Instant::now();
            let result = run_once(kind, &ctx, spec.timeout).await;
            let ms = t0.elapsed().as_millis() as u64;
            tracing::debug!(step = %spec.id, attempt, ms, ok = result.is_ok(), "step attempt ended");
            match result {
                Ok(outputs) => return self.succeed(spec, outputs, ms).await,
                Err(StepError::Cancelled) => return self.interrupted(spec, ms).await,
                Err(e) if e.retryable() && n < spec.retries.attempts => {
                    events.warn(format!(
                        "attempt {attempt} failed: {e}; retrying in {}",
                        humantime::format_duration(backoff)
                    ));
                    if ctx.sleep(backoff).await.is_err() {
                        return self.interrupted(spec, ms).await;
                    }
                    backoff = backoff.saturating_mul(2);
                }
                Err(e) => {
                    match &e {
                        StepError::Refused(_) => self.outcome = Some(RunStatus::Refused),
                        StepError::BadInput(_) => self.outcome = Some(RunStatus::BadInput),
                        _ => {}
                    }
                    return self.fail(spec, e.to_string()).await;
                }
            }
        }
        Ok(Flow::Failed(format!("step `{}` failed", spec.id)))
    }

    async fn succeed(
        &mut self,
        spec: &StepSpec,
        outputs: Outputs,
        ms: u64,
    ) -> Result<Flow, EngineError> {
        let mut visible = outputs.values.clone();
        for (key, secret) in &outputs.secrets {
            self.engine.redactor.learn(secret);
            visible.insert(key.clone(), Value::from(secret.expose_secret()));
        }
        let has_secrets = !outputs.secrets.is_empty();
        self.handle
            .update(|s| {
                if let Some(st) = s.step_mut(&spec.id) {
                    st.status = StepStatus::Succeeded;
                    st.finished_at = Some(Utc::now());
                    st.outputs = outputs.values.clone();
                    st.has_secrets = has_secrets;
                }
            })
            .await?;
        self.scope
            .steps
            .insert(spec.id.clone(), StepScope { outputs: visible });
        self.engine
            .reporter
            .event(&finished(spec, StepStatus::Succeeded, ms, None));
        Ok(Flow::Continue)
    }

    /// Cancelled mid-step: the step stays `running` so resume knows it may have started.
    async fn interrupted(&mut self, spec: &StepSpec, ms: u64) -> Result<Flow, EngineError> {
        self.handle
            .update(|s| {
                if let Some(st) = s.step_mut(&spec.id) {
                    st.error = Some("interrupted".into());
                }
            })
            .await?;
        self.engine.reporter.event(&finished(
            spec,
            StepStatus::Running,
            ms,
            Some("interrupted".into()),
        ));
        Ok(Flow::Stop(
            RunStatus::Interrupted,
            format!("interrupted during step `{}`", spec.id),
        ))
    }
}

/// Diagnostics for `-vv` / `-vvv`. Rendered inputs may hold secret outputs: the log writer
/// redacts every record (see `crate::logging`).
fn trace_start(spec: &StepSpec, inputs: &Inputs, attempt: u32) {
    if tracing::enabled!(tracing::Level::TRACE) {
        let shown = Value::Object(inputs.0.clone());
        tracing::trace!(step = %spec.id, inputs = %shown, "step inputs");
    }
    tracing::debug!(step = %spec.id, uses = %spec.uses, attempt, "step attempt started");
}

async fn run_once(
    kind: &dyn Step,
    ctx: &StepContext,
    timeout: Option<Duration>,
) -> Result<Outputs, StepError> {
    let work = async {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, kind.run(ctx))
                .await
                .unwrap_or(Err(StepError::TimedOut(limit))),
            None => kind.run(ctx).await,
        }
    };
    tokio::select! {
        result = work => result,
        _ = ctx.cancel.cancelled() => Err(StepError::Cancelled),
    }
}
