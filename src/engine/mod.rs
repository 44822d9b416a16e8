//! The runbook engine: plan, then execute steps with checkpoints, confirmation and events.
//!
//! It knows nothing of Kubernetes: step kinds do (see `crate::steps`). The engine owns the
//! order of steps, `when`, retries with exponential backoff, timeouts, `always` cleanup steps,
//! cancellation (Ctrl-C), confirmation of destructive steps, resume, and holding the run lock
//! a runbook's `lock:` names (see [`lock`]).

mod attempt;
pub(crate) mod checkpoint;
pub(crate) mod confirm;
pub(crate) mod crash_point;
pub(crate) mod events;
mod execute;
mod interrupt;
pub(crate) mod lock;
pub(crate) mod plan;
pub(crate) mod registry;
mod resume;
pub(crate) mod step;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub(crate) use checkpoint::{
    CheckpointHandle, FileStore, RunState, RunStatus, StateStore, StepStatus, StoreError,
};
pub(crate) use confirm::{Confirmer, Policy};
pub(crate) use events::{Event, Report, Reporter};
pub(crate) use lock::{LockError, LockGuard, LockTarget, Locker};
pub(crate) use plan::{Plan, PlannedStep};
pub(crate) use registry::Registry;
pub(crate) use resume::ResumeOptions;
pub(crate) use step::{Inputs, RunMode, StepError};

use crate::redact::Redactor;
use crate::runbook::RunbookError;

/// Everything a run needs besides the runbook.
pub(crate) struct Engine {
    registry: Arc<Registry>,
    reporter: Arc<dyn Reporter>,
    redactor: Redactor,
    store: Arc<dyn StateStore>,
    confirmer: Arc<dyn Confirmer>,
    policy: Policy,
    cancel: CancellationToken,
    profile: BTreeMap<String, Value>,
    locker: Option<Arc<dyn Locker>>,
    /// How long the `always` steps may take after an interruption (see [`interrupt`]).
    grace: std::time::Duration,
}

/// The default grace budget: fits a Pod's default `terminationGracePeriodSeconds` (30 s).
pub(crate) const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(25);

/// The parts an [`Engine`] is built from.
pub(crate) struct EngineParts {
    pub registry: Arc<Registry>,
    /// Receives events already redacted.
    pub reporter: Arc<dyn Reporter>,
    pub redactor: Redactor,
    pub store: Arc<dyn StateStore>,
    pub confirmer: Arc<dyn Confirmer>,
    pub policy: Policy,
    pub cancel: CancellationToken,
    /// Naming-profile values templates read as `profile.<key>`.
    pub profile: BTreeMap<String, Value>,
    /// Takes the lock a runbook's `lock:` names; a real run of such a runbook without one fails.
    pub locker: Option<Arc<dyn Locker>>,
}

impl Engine {
    pub(crate) fn new(parts: EngineParts) -> Self {
        let reporter: Arc<dyn Reporter> = Arc::new(events::Redacting::new(
            parts.reporter,
            parts.redactor.clone(),
        ));
        Self {
            registry: parts.registry,
            reporter,
            redactor: parts.redactor,
            store: parts.store,
            confirmer: parts.confirmer,
            policy: parts.policy,
            cancel: parts.cancel,
            profile: parts.profile,
            locker: parts.locker,
            grace: DEFAULT_GRACE,
        }
    }

    /// Sets the grace budget the `always` steps get after an interruption.
    pub(crate) fn with_grace(mut self, grace: std::time::Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// Why a run could not start or continue (as opposed to a step failing, which is a report).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runbook(#[from] RunbookError),
    #[error("failed to resume run `{run_id}`: runbook `{runbook}` changed since the run started (was {expected}, now {found}); start a new run")]
    DigestChanged {
        run_id: String,
        runbook: String,
        expected: String,
        found: String,
    },
    #[error("failed to resume run `{run_id}`: it already succeeded")]
    Finished { run_id: String },
    #[error("failed to resume run `{run_id}`: runbook `{runbook}` has no step `{step}`")]
    UnknownStep {
        run_id: String,
        runbook: String,
        step: String,
    },
}

#[cfg(test)]
mod interrupt_tests;
#[cfg(test)]
mod lock_tests;
#[cfg(test)]
mod outcome_tests;
#[cfg(test)]
mod tests;
