//! Executing a run: steps in order, `when`, confirmation, attempts with backoff and timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use super::checkpoint::{CheckpointHandle, RunStatus, StepState, StepStatus};
use super::confirm::{self, ConfirmRequest};
use super::events::{Event, Report, StepEvents, StepReport};
use super::plan::value_text;
use super::step::{Inputs, RunMode, StepPlan};
use super::{Engine, EngineError};
use crate::runbook::template::{self, Scope, StepScope};
use crate::runbook::{Loaded, StepSpec};

/// What the loop does after a step.
pub(super) enum Flow {
    Continue,
    Failed(String),
    Stop(RunStatus, String),
}

/// One run in progress.
pub(super) struct Run<'a> {
    pub engine: &'a Engine,
    pub loaded: &'a Loaded,
    pub handle: CheckpointHandle,
    pub env: minijinja::Environment<'static>,
    pub scope: Scope,
    pub mode: RunMode,
    pub failed: Option<String>,
    /// Overrides `failed` when a step refused or found bad input.
    pub outcome: Option<RunStatus>,
    pub writes: BTreeMap<String, bool>,
    /// Targets the person already typed in this process: asked once per target and run.
    pub confirmed: BTreeSet<String>,
    /// What steps are cancelled by: the engine's token, then the grace budget's after an
    /// interruption (see [`super::interrupt`]).
    pub cancel: tokio_util::sync::CancellationToken,
    /// Cancelled when the run lock was lost (another run may own the target now).
    pub lock_lost: tokio_util::sync::CancellationToken,
}

impl Engine {
    /// Runs every step of `handle`'s state in order and returns the report.
    pub(super) async fn drive(
        &self,
        loaded: &Loaded,
        handle: CheckpointHandle,
        resumed: bool,
    ) -> Result<Report, EngineError> {
        let started = Instant::now();
        let state = handle.snapshot().await;
        self.reporter.event(&Event::RunStarted {
            run_id: state.run_id.clone(),
            runbook: state.runbook.name.clone(),
            mode: mode_name(state.mode).into(),
            steps: state.steps.iter().map(|s| s.id.clone()).collect(),
            resumed,
        });
        let scope = Scope {
            params: state.params.clone(),
            profile: self.profile.clone(),
            steps: BTreeMap::new(),
        };
        let lock_lost = tokio_util::sync::CancellationToken::new();
        let guard = match self
            .take_lock(loaded, &state, &scope, lock_lost.clone())
            .await
        {
            Ok(guard) => guard,
            Err((status, message)) => {
                let no_writes = BTreeMap::new();
                return self
                    .finish(
                        &handle,
                        status,
                        Some(message),
                        &no_writes,
                        started.elapsed(),
                    )
                    .await;
            }
        };
        let mut run = Run {
            engine: self,
            loaded,
            handle: handle.clone(),
            env: template::environment(),
            scope,
            mode: state.mode,
            failed: None,
            outcome: None,
            writes: BTreeMap::new(),
            confirmed: BTreeSet::new(),
            cancel: self.cancel.clone(),
            lock_lost,
        };
        let stop = run.all_steps().await;
        self.release_lock(guard).await;
        let (status, message) = match (stop?, run.failed.take()) {
            (Some((status, message)), _) => (status, Some(message)),
            (None, Some(message)) => (run.outcome.unwrap_or(RunStatus::Failed), Some(message)),
            (None, None) => (RunStatus::Succeeded, None),
        };
        self.finish(&handle, status, message, &run.writes, started.elapsed())
            .await
    }

    /// Records the final status and emits the report.
    pub(super) async fn finish(
        &self,
        handle: &CheckpointHandle,
        status: RunStatus,
        message: Option<String>,
        writes: &BTreeMap<String, bool>,
        elapsed: Duration,
    ) -> Result<Report, EngineError> {
        let message = message.map(|m| self.redactor.redact(&m).into_owned());
        handle
            .update(|s| {
                s.status = status;
                s.message = message.clone();
            })
            .await?;
        let state = handle.snapshot().await;
        let report = Report {
            run_id: state.run_id.clone(),
            runbook: state.runbook.name.clone(),
            mode: mode_name(state.mode).into(),
            status,
            duration_ms: elapsed.as_millis() as u64,
            steps: state.steps.iter().map(|s| step_report(s, writes)).collect(),
            message,
            resume: status
                .resumable()
                .then(|| format!("cnpgops resume {}", state.run_id)),
        };
        self.reporter.event(&Event::RunFinished {
            report: report.clone(),
        });
        Ok(report)
    }
}

fn step_report(s: &StepState, writes: &BTreeMap<String, bool>) -> StepReport {
    let duration_ms = match (s.started_at, s.finished_at) {
        (Some(a), Some(b)) => Some((b - a).num_milliseconds().max(0) as u64),
        _ => None,
    };
    StepReport {
        id: s.id.clone(),
        status: s.status,
        attempts: s.attempts,
        duration_ms,
        writes: writes.get(&s.id).copied().unwrap_or(false),
        error: s.error.clone(),
        outputs: s.outputs.clone(),
    }
}

/// `plan`, `dry-run` or `real`.
pub(super) fn mode_name(mode: RunMode) -> &'static str {
    match mode {
        RunMode::Plan => "plan",
        RunMode::DryRun => "dry-run",
        RunMode::Real => "real",
    }
}

impl Run<'_> {
    /// Every step in order; `Some` when the run stopped early.
    async fn all_steps(&mut self) -> Result<Option<(RunStatus, String)>, EngineError> {
        let steps = &self.loaded.runbook.steps;
        for (at, spec) in steps.iter().enumerate() {
            let flow = self.step(spec).await?;
            super::crash_point::pause_after(&spec.id, &self.engine.cancel).await;
            match flow {
                Flow::Continue => {}
                Flow::Failed(message) => {
                    self.failed.get_or_insert(message);
                }
                Flow::Stop(RunStatus::Interrupted, message) => {
                    self.clean_up_within_grace(&steps[at..]).await?;
                    return Ok(Some((RunStatus::Interrupted, message)));
                }
                Flow::Stop(status, message) => return Ok(Some((status, message))),
            }
        }
        Ok(None)
    }

    /// Decides what to do with one step and does it.
    pub(super) async fn step(&mut self, spec: &StepSpec) -> Result<Flow, EngineError> {
        if self.cancel.is_cancelled() {
            return Ok(Flow::Stop(
                RunStatus::Interrupted,
                format!("interrupted before step `{}`", spec.id),
            ));
        }
        let prior = self.handle.snapshot().await.step(&spec.id).cloned();
        let Some(prior) = prior else {
            return Ok(Flow::Failed(format!(
                "step `{}` is missing from the run state",
                spec.id
            )));
        };
        let Some(kind) = self.engine.registry.get(&spec.uses).cloned() else {
            return self
                .fail(spec, format!("unknown step kind `{}`", spec.uses))
                .await;
        };
        if let Some(flow) = self.settled(spec, &prior, kind.signature().idempotent) {
            return Ok(flow);
        }
        if self.failed.is_some() && !spec.always {
            self.engine.reporter.event(&finished(
                spec,
                StepStatus::Pending,
                0,
                Some("not run: an earlier step failed".into()),
            ));
            return Ok(Flow::Continue);
        }
        if let Some(when) = &spec.when {
            match template::eval_condition(&self.env, &when.value, &self.scope) {
                Ok(true) => {}
                Ok(false) => return self.skip(spec, &when.value).await,
                Err(e) => {
                    return self
                        .fail(
                            spec,
                            format!("failed to evaluate `when` at {}: {e}", self.at(when.pos)),
                        )
                        .await
                }
            }
        }
        let inputs = match self.render_inputs(spec) {
            Ok(inputs) => inputs,
            Err(message) => return self.fail(spec, message).await,
        };
        let plan = match kind.plan(&inputs) {
            Ok(plan) => plan,
            Err(e) => {
                return self
                    .fail(spec, format!("failed to plan step `{}`: {e}", spec.id))
                    .await
            }
        };
        self.writes.insert(spec.id.clone(), plan.writes);
        let point = match kind.confirmation_target(&inputs) {
            Ok(point) => point,
            Err(e) => {
                return self
                    .fail(spec, format!("failed to plan step `{}`: {e}", spec.id))
                    .await
            }
        };
        if spec.destructive || point.is_some() {
            if let Some(flow) = self.confirm(spec, &plan, point).await {
                return Ok(flow);
            }
        }
        self.attempts(spec, kind.as_ref(), inputs, prior.attempts)
            .await
    }

    /// A step already decided by an earlier process (resume), or `None` to run it.
    fn settled(&mut self, spec: &StepSpec, prior: &StepState, idempotent: bool) -> Option<Flow> {
        match prior.status {
            StepStatus::Succeeded if !prior.has_secrets || spec.destructive => {
                self.scope.steps.insert(
                    spec.id.clone(),
                    StepScope {
                        outputs: prior.outputs.clone(),
                    },
                );
                Some(Flow::Continue)
            }
            StepStatus::Skipped => Some(Flow::Continue),
            StepStatus::Running | StepStatus::Failed
                if spec.destructive && !idempotent && prior.attempts > 0 =>
            {
                Some(Flow::Stop(
                    RunStatus::NeedsManualCheck,
                    super::resume::manual_check_message(spec, prior),
                ))
            }
            _ => None,
        }
    }

    fn at(&self, pos: crate::runbook::Pos) -> String {
        format!("{}:{}:{}", self.loaded.source.display, pos.line, pos.col)
    }

    fn render_inputs(&self, spec: &StepSpec) -> Result<Inputs, String> {
        let mut render = |text: &str, pos| {
            template::render_str(&self.env, text, &self.scope)
                .map_err(|e| format!("failed to render input at {}: {e}", self.at(pos)))
        };
        match spec.with.to_json(&mut render)? {
            Value::Object(map) => Ok(Inputs(map)),
            _ => Err(format!("`with:` of step `{}` is not a mapping", spec.id)),
        }
    }

    /// Asks for confirmation (real runs) or says it would (dry runs); `Some` stops the run.
    /// `point` is the name a confirmation-point step asks for; else the step's `confirm:`.
    async fn confirm(
        &mut self,
        spec: &StepSpec,
        plan: &StepPlan,
        point: Option<String>,
    ) -> Option<Flow> {
        let rendered = match point {
            Some(target) => Some(Ok(serde_json::Value::from(target))),
            None => spec
                .confirm
                .as_ref()
                .map(|c| template::render_str(&self.env, &c.value, &self.scope)),
        };
        let target = match rendered {
            Some(Ok(v)) => value_text(&v),
            Some(Err(e)) => {
                return Some(Flow::Failed(format!(
                    "failed to render `confirm` of step `{}`: {e}",
                    spec.id
                )))
            }
            None => spec.id.clone(),
        };
        let request = ConfirmRequest {
            step: spec.id.clone(),
            target,
            description: plan.description.clone(),
            prod: plan.prod,
        };
        let events = StepEvents::new(&spec.id, self.engine.reporter.clone());
        if self.mode != RunMode::Real {
            events.log(format!(
                "dry run: would ask to confirm `{}` before: {}",
                request.target, plan.description
            ));
            return None;
        }
        let (policy, confirmer) = (self.engine.policy, self.engine.confirmer.clone());
        if self.confirmed.contains(&request.target) {
            return confirm::preflight(policy, confirmer.as_ref(), &request)
                .err()
                .map(|refusal| Flow::Stop(RunStatus::Refused, refusal.to_string()));
        }
        let target = request.target.clone();
        let decided = tokio::task::spawn_blocking(move || {
            confirm::decide(policy, confirmer.as_ref(), &request)
        })
        .await;
        match decided {
            Ok(Ok(())) => {
                self.confirmed.insert(target);
                None
            }
            Ok(Err(refusal)) => Some(Flow::Stop(RunStatus::Refused, refusal.to_string())),
            Err(e) => Some(Flow::Stop(
                RunStatus::Refused,
                format!("refused step `{}`: confirmation failed: {e}", spec.id),
            )),
        }
    }

    async fn skip(&mut self, spec: &StepSpec, when: &str) -> Result<Flow, EngineError> {
        self.handle
            .update(|s| {
                if let Some(st) = s.step_mut(&spec.id) {
                    st.status = StepStatus::Skipped;
                }
            })
            .await?;
        self.engine.reporter.event(&finished(
            spec,
            StepStatus::Skipped,
            0,
            Some(format!("when `{when}` is false")),
        ));
        Ok(Flow::Continue)
    }

    /// Marks the step failed (before or after attempts) and reports it.
    pub(super) async fn fail(
        &mut self,
        spec: &StepSpec,
        message: String,
    ) -> Result<Flow, EngineError> {
        let message = self.engine.redactor.redact(&message).into_owned();
        self.handle
            .update(|s| {
                if let Some(st) = s.step_mut(&spec.id) {
                    st.status = StepStatus::Failed;
                    st.finished_at = Some(Utc::now());
                    st.error = Some(message.clone());
                }
            })
            .await?;
        self.engine.reporter.event(&finished(
            spec,
            StepStatus::Failed,
            0,
            Some(message.clone()),
        ));
        Ok(Flow::Failed(format!(
            "step `{}` failed: {message}",
            spec.id
        )))
    }
}

pub(super) fn finished(
    spec: &StepSpec,
    status: StepStatus,
    duration_ms: u64,
    message: Option<String>,
) -> Event {
    Event::StepFinished {
        step: spec.id.clone(),
        status,
        duration_ms,
        message,
    }
}
