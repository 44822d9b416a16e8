//! Starting a run and resuming one from its checkpoint.
//!
//! # What resume does with each step
//!
//! | state found          | step                                  | on resume                    |
//! |----------------------|---------------------------------------|------------------------------|
//! | `succeeded`          | any                                   | kept; its outputs are reused |
//! | `succeeded`          | produced secrets, not destructive     | run again (secrets are never stored) |
//! | `skipped`            | any                                   | kept                         |
//! | `pending`            | any                                   | run                          |
//! | `running` / `failed` | not destructive                       | run again (reads are safe to repeat) |
//! | `running` / `failed` | destructive, kind idempotent          | run again with `resumed`, the kind adopts what exists |
//! | `running` / `failed` | destructive, kind not idempotent      | **stop: needs manual check** |
//!
//! A destructive step that reached `running` may have done its damage before the process died
//! (SIGKILL, node loss, timeout) and the engine cannot know. Running it again could, say, drop
//! a database twice, so unless its kind declares it can adopt a previous attempt's effect
//! ([`crate::runbook::KindSignature::idempotent`]), resume stops and says which step to check.
//! After checking, the person passes `--mark-done STEP` (it happened) or `--rerun STEP` (it did
//! not). `always` steps after the resume point run again, so cleanup follows the resumed work,
//! and steps marked `rerun_on_resume` before it (whose effect that cleanup undid, such as
//! scaling the app down) run again before it.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;

use super::checkpoint::{new_run_id, RunState, RunStatus, RunbookRef, StepState, StepStatus};
use super::confirm::{self, ConfirmRequest};
use super::plan::{self, Plan};
use super::step::RunMode;
use super::{CheckpointHandle, Engine, EngineError, Report};
use crate::runbook::{Loaded, ParamValues, StepSpec};

/// Decisions a person made after checking steps by hand.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResumeOptions {
    /// Steps to record as done without running them.
    pub mark_done: Vec<String>,
    /// Steps to run again even though they are destructive and may have started.
    pub rerun: Vec<String>,
}

impl Engine {
    /// Renders the plan (no step runs).
    pub(crate) fn plan(&self, loaded: &Loaded, params: &ParamValues) -> Result<Plan, EngineError> {
        Ok(plan::plan(loaded, &self.registry, params, &self.profile)?)
    }

    /// Starts a new run; an unattended run that could not confirm a destructive step is
    /// refused before any step runs.
    pub(crate) async fn start(
        &self,
        loaded: &Loaded,
        params: ParamValues,
        mode: RunMode,
    ) -> Result<Report, EngineError> {
        let plan = self.plan(loaded, &params)?;
        let state = new_state(loaded, params, mode);
        let handle = CheckpointHandle::new(state, self.store.clone(), self.redactor.clone());
        handle.update(|_| {}).await?;
        if mode == RunMode::Real {
            if let Err(refusal) = self.preflight(&plan) {
                return self
                    .finish(
                        &handle,
                        RunStatus::Refused,
                        Some(refusal.to_string()),
                        &BTreeMap::new(),
                        Instant::now().elapsed(),
                    )
                    .await;
            }
        }
        self.drive(loaded, handle, false).await
    }

    fn preflight(&self, plan: &Plan) -> Result<(), confirm::Refusal> {
        for step in plan
            .steps
            .iter()
            .filter(|s| s.needs_confirmation() && s.when != Some(false))
        {
            let request = ConfirmRequest {
                step: step.id.clone(),
                target: step.confirm.clone().unwrap_or_else(|| step.id.clone()),
                description: step
                    .effect
                    .as_ref()
                    .map(|e| e.description.clone())
                    .unwrap_or_default(),
                prod: step.effect.as_ref().is_some_and(|e| e.prod),
            };
            confirm::preflight(self.policy, self.confirmer.as_ref(), &request)?;
        }
        Ok(())
    }

    /// Continues `run_id` at its first unfinished step.
    pub(crate) async fn resume(
        &self,
        loaded: &Loaded,
        run_id: &str,
        options: &ResumeOptions,
    ) -> Result<Report, EngineError> {
        let mut state = self.store.load(run_id).await?;
        let digest = loaded.source.digest();
        if state.runbook.digest != digest {
            return Err(EngineError::DigestChanged {
                run_id: run_id.into(),
                runbook: state.runbook.name.clone(),
                expected: state.runbook.digest.clone(),
                found: digest,
            });
        }
        if state.status == RunStatus::Succeeded {
            return Err(EngineError::Finished {
                run_id: run_id.into(),
            });
        }
        apply_options(&mut state, options, &loaded.runbook.name)?;
        rearm_always_steps(&mut state, &loaded.runbook.steps);
        state.status = RunStatus::Running;
        state.message = None;
        let handle = CheckpointHandle::new(state, self.store.clone(), self.redactor.clone());
        handle.update(|_| {}).await?;
        self.drive(loaded, handle, true).await
    }
}

fn new_state(loaded: &Loaded, params: ParamValues, mode: RunMode) -> RunState {
    let now = Utc::now();
    RunState {
        version: 1,
        run_id: new_run_id(),
        runbook: RunbookRef {
            name: loaded.runbook.name.clone(),
            origin: loaded.source.origin.to_key(),
            digest: loaded.source.digest(),
        },
        mode,
        params,
        status: RunStatus::Running,
        message: None,
        created_at: now,
        updated_at: now,
        steps: loaded.runbook.steps.iter().map(pending).collect(),
    }
}

fn pending(spec: &StepSpec) -> StepState {
    StepState {
        id: spec.id.clone(),
        uses: spec.uses.clone(),
        destructive: spec.destructive,
        status: StepStatus::Pending,
        attempts: 0,
        started_at: None,
        finished_at: None,
        outputs: BTreeMap::new(),
        has_secrets: false,
        notes: BTreeMap::new(),
        error: None,
    }
}

fn apply_options(
    state: &mut RunState,
    options: &ResumeOptions,
    runbook: &str,
) -> Result<(), EngineError> {
    let run_id = state.run_id.clone();
    for (ids, status) in [
        (&options.mark_done, StepStatus::Succeeded),
        (&options.rerun, StepStatus::Pending),
    ] {
        for id in ids {
            let step = state.step_mut(id).ok_or_else(|| EngineError::UnknownStep {
                run_id: run_id.clone(),
                runbook: runbook.into(),
                step: id.clone(),
            })?;
            step.status = status;
            step.error = None;
            if status == StepStatus::Pending {
                step.attempts = 0;
            }
        }
    }
    Ok(())
}

/// Cleanup steps after the first unfinished step run again after the resumed work, and so do
/// steps marked `rerun_on_resume` before it (their effect was undone by cleanup since, such
/// as the app scaled down) — and then every cleanup step after the earliest of those too,
/// even one that had finished (it must undo the new effect again: a run killed between
/// `start_app` and a later cleanup step would otherwise stop the app and never start it).
fn rearm_always_steps(state: &mut RunState, specs: &[StepSpec]) {
    let Some(first) = state
        .steps
        .iter()
        .position(|s| !matches!(s.status, StepStatus::Succeeded | StepStatus::Skipped))
    else {
        return;
    };
    // Undone by cleanup since: done again, keeping the notes its kind adopts.
    let mut from = first;
    for (at, (step, spec)) in state.steps.iter_mut().zip(specs).enumerate().take(first) {
        if spec.rerun_on_resume && step.status == StepStatus::Succeeded {
            step.status = StepStatus::Pending;
            step.attempts = 0;
            from = from.min(at);
        }
    }
    for (step, spec) in state.steps.iter_mut().zip(specs).skip(from + 1) {
        if spec.always && step.status != StepStatus::Running {
            *step = pending(spec);
        }
    }
}

/// The message for a destructive step that may or may not have happened.
pub(super) fn manual_check_message(spec: &StepSpec, prior: &StepState) -> String {
    format!(
        "step `{}` ({}) is destructive and was found {:?} after {} attempt(s): it may already have taken effect. \
         Check by hand, then resume with --mark-done {} (it happened) or --rerun {} (it did not)",
        spec.id,
        spec.uses,
        prior.status,
        prior.attempts,
        spec.id,
        spec.id
    )
    .replace("Running", "running")
    .replace("Failed", "failed")
}
