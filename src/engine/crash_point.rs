//! A crash-test hook: with `CNPGOPS_PAUSE_AFTER_STEP=<step id>` a run stops right after that
//! step's checkpoint is written and waits there until it is killed (or interrupted, which
//! continues normally). The test suite SIGKILLs it at every step boundary in turn to prove
//! that `cnpgops resume` finishes and no destructive step runs twice. Unset, it does nothing.

use tokio_util::sync::CancellationToken;

/// The variable naming the step to pause after.
pub const ENV: &str = "CNPGOPS_PAUSE_AFTER_STEP";

/// Waits for cancellation when `step` is the one [`ENV`] names.
pub(super) async fn pause_after(step: &str, cancel: &CancellationToken) {
    if std::env::var(ENV).is_ok_and(|v| v == step) {
        tracing::warn!(step, "{ENV}: paused after the step's checkpoint");
        cancel.cancelled().await;
    }
}
