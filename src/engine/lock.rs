//! The run lock: a runbook's `lock:` target is held for the whole run (start or resume).
//!
//! The engine takes the lock after the run starts and before the first step, and releases it
//! before the report, however the run ended (success, failure, refusal, interruption). Only a
//! killed process leaves it held, and then it expires. A second run on the same target is
//! refused (exit code 3) with the holder named. The engine only knows the [`Locker`] trait; the
//! Kubernetes Lease implementation lives in `crate::k8s::lease`.
//!
//! # Why a runbook field and not `lock.acquire` / `lock.release` step kinds
//!
//! A lock is a property of the process, not a step's effect that a checkpoint can record:
//!
//! - Resume skips steps found `succeeded`. A finished `lock.acquire` step would be skipped by
//!   `cnpgops resume`, so the resumed process would run every later step *without* the lock
//!   (the killed process's Lease has expired or is about to), which is exactly when a second
//!   run may be starting. The engine instead takes the lock again on every start and resume.
//! - The lock must be renewed while steps run and released however the run ends (failure,
//!   refusal, Ctrl-C), and lost renewal must stop the run; a `lock.release` step would be
//!   skipped after a failure unless marked `always`, and nothing could renew between steps.
//! - A runbook author cannot forget the release, or put a step before the acquire.
//!
//! So `lock: "{{ params.namespace }}/{{ params.cluster }}"` names the target once, validated
//! and rendered by `plan`, and the engine holds it around all steps.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{RunState, RunStatus};
use super::events::StepEvents;
use super::plan::value_text;
use super::step::RunMode;
use super::Engine;
use crate::runbook::template::{self, Scope};
use crate::runbook::Loaded;

/// What a run locks: `NAMESPACE/NAME`, rendered from the runbook's `lock:` template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LockTarget {
    pub namespace: String,
    pub name: String,
}

impl LockTarget {
    /// Parses `namespace/name` (both lowercase DNS labels).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !s.starts_with('-')
                && !s.ends_with('-')
        };
        match text.split_once('/') {
            Some((ns, name)) if valid(ns) && valid(name) => Ok(Self {
                namespace: ns.into(),
                name: name.into(),
            }),
            _ => Err(format!(
                "invalid lock target `{text}`: expected NAMESPACE/NAME of lowercase letters, digits and `-`"
            )),
        }
    }
}

impl fmt::Display for LockTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

const TIME: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Why a lock could not be taken or released.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    #[error("refused: target {target} is locked by `{holder}` since {} (held in {location}, expires {} unless renewed); wait for that run to finish, or if it is dead break the lock with `{break_with}`", .since.format(TIME), .expires.format(TIME))]
    Held {
        target: String,
        holder: String,
        since: DateTime<Utc>,
        expires: DateTime<Utc>,
        location: String,
        break_with: String,
    },
    /// The cluster cannot even be reached as configured (kubeconfig, context): bad input.
    #[error("failed to lock {target}: {message}; check --kubeconfig / --context (or KUBECONFIG)")]
    Config { target: String, message: String },
    #[error("failed to lock {target} ({location})")]
    Failed {
        target: String,
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Takes locks on targets.
#[async_trait::async_trait]
pub(crate) trait Locker: Send + Sync {
    /// Takes `target` for run `run_id` (free, released, or expired), or fails with
    /// [`LockError::Held`]. While held it is renewed; if it is lost, `lost` is cancelled.
    async fn acquire(
        &self,
        target: &LockTarget,
        run_id: &str,
        lost: CancellationToken,
    ) -> Result<Box<dyn LockGuard>, LockError>;
}

/// A held lock.
#[async_trait::async_trait]
pub(crate) trait LockGuard: Send + Sync {
    /// Where it is held, for messages (e.g. `Lease db/cnpgops-lock-db-app`).
    fn location(&self) -> String;
    /// Stops renewing and gives the lock up (only if still ours).
    async fn release(self: Box<Self>) -> Result<(), LockError>;
}

impl Engine {
    /// Takes the runbook's lock (real runs only), or says why the run stops.
    pub(super) async fn take_lock(
        &self,
        loaded: &Loaded,
        state: &RunState,
        scope: &Scope,
        lost: CancellationToken,
    ) -> Result<Option<Box<dyn LockGuard>>, (RunStatus, String)> {
        let Some(lock) = &loaded.runbook.lock else {
            return Ok(None);
        };
        let failed = |m: String| (RunStatus::Failed, m);
        let events = StepEvents::new("lock", self.reporter.clone());
        let text = template::render_str(&template::environment(), &lock.value, scope)
            .map(|v| value_text(&v))
            .map_err(|e| failed(format!("failed to render `lock`: {e}")))?;
        let target = LockTarget::parse(&text).map_err(failed)?;
        if state.mode != RunMode::Real {
            events.log(format!("dry run: would lock {target} for the whole run"));
            return Ok(None);
        }
        let Some(locker) = &self.locker else {
            return Err(failed(format!(
                "failed to lock {target}: no lock backend is configured"
            )));
        };
        // A lost lock stops the run (exit 5) like a signal, and marks `lost` so the
        // interrupted run's cleanup does not touch a target another run may now hold.
        let watch = CancellationToken::new();
        let (cancel, signal) = (self.cancel.clone(), watch.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = signal.cancelled() => {
                    lost.cancel();
                    cancel.cancel();
                }
                _ = cancel.cancelled() => {}
            }
        });
        match locker.acquire(&target, &state.run_id, watch).await {
            Ok(guard) => {
                events.log(format!("locked {target} ({})", guard.location()));
                Ok(Some(guard))
            }
            Err(e @ LockError::Held { .. }) => Err((RunStatus::Refused, e.to_string())),
            Err(e @ LockError::Config { .. }) => Err((RunStatus::BadInput, e.to_string())),
            Err(e) => Err(failed(crate::error::chain(&e))),
        }
    }

    /// Gives the lock up; a failure is only a warning (the lock expires on its own).
    pub(super) async fn release_lock(&self, guard: Option<Box<dyn LockGuard>>) {
        let Some(guard) = guard else { return };
        let events = StepEvents::new("lock", self.reporter.clone());
        let location = guard.location();
        match guard.release().await {
            Ok(()) => events.log(format!("released {location}")),
            Err(e) => events.warn(format!(
                "{}; it expires on its own",
                crate::error::chain(&e)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_namespace_slash_name() {
        let t = LockTarget::parse("databases/app-dev-cnpg").unwrap();
        assert_eq!(t.namespace, "databases");
        assert_eq!(t.to_string(), "databases/app-dev-cnpg");
        for bad in ["app", "a/b/c", "A/b", "/b", "a/", "a/-b", "a/b_c"] {
            assert!(LockTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
