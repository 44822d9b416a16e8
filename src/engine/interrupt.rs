//! After an interruption (SIGINT/SIGTERM, a lost lock): the `always` steps still run, within
//! a grace budget, so the app comes back before the process exits 5.
//!
//! A CronJob's deadline or an eviction sends SIGTERM and SIGKILLs `terminationGracePeriodSeconds`
//! later; the budget ([`super::DEFAULT_GRACE`], `--grace`) must fit inside it. The cleanup steps
//! run under a token of their own that the budget cancels; what they could not finish stays
//! unfinished in the checkpoint and `cnpgops resume` runs them again (resume re-arms every
//! `always` step after the resume point). When the lock was lost, another run may hold the
//! target now: nothing is cleaned up.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::events::StepEvents;
use super::execute::Run;
use super::EngineError;
use crate::runbook::StepSpec;

impl Run<'_> {
    /// Runs the `always` steps of `rest` (the interrupted step onwards) within the grace budget.
    pub(super) async fn clean_up_within_grace(
        &mut self,
        rest: &[StepSpec],
    ) -> Result<(), EngineError> {
        let cleanup: Vec<&StepSpec> = rest.iter().filter(|s| s.always).collect();
        if cleanup.is_empty() {
            return Ok(());
        }
        let events = StepEvents::new("interrupt", self.engine.reporter.clone());
        if self.lock_lost.is_cancelled() {
            events.warn(
                "the run lost its lock: another run may hold the target, so the `always` steps are not run; `cnpgops resume` runs them",
            );
            return Ok(());
        }
        let grace = self.engine.grace;
        events.warn(format!(
            "interrupted: running the cleanup steps ({}) within {}",
            cleanup
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            humantime::format_duration(grace)
        ));
        self.cancel = budget(grace);
        for spec in cleanup {
            if self.cancel.is_cancelled() {
                break;
            }
            // An interrupted cleanup step stops the loop; the others remain for `resume`.
            if let super::execute::Flow::Stop(..) = self.step(spec).await? {
                break;
            }
        }
        if self.cancel.is_cancelled() {
            events.warn(format!(
                "the grace budget of {} ran out before the cleanup finished; `cnpgops resume` finishes it",
                humantime::format_duration(grace)
            ));
        }
        Ok(())
    }
}

/// A token cancelled once `grace` has passed.
fn budget(grace: Duration) -> CancellationToken {
    let token = CancellationToken::new();
    let timer = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        timer.cancel();
    });
    token
}
