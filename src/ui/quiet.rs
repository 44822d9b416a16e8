//! `-q/--quiet`: only errors (failed steps) and the final report reach the inner reporter.

use std::sync::Arc;

use crate::engine::{Event, Reporter, StepStatus};

/// Drops every event but failed steps and the run report.
pub(crate) struct Quiet {
    inner: Arc<dyn Reporter>,
}

impl Quiet {
    pub(crate) fn new(inner: Arc<dyn Reporter>) -> Self {
        Self { inner }
    }
}

/// Whether `-q` lets this event through.
pub(super) fn shown(event: &Event) -> bool {
    matches!(
        event,
        Event::RunFinished { .. }
            | Event::StepFinished {
                status: StepStatus::Failed,
                ..
            }
    )
}

impl Reporter for Quiet {
    fn event(&self, event: &Event) {
        if shown(event) {
            self.inner.event(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::Level;
    use crate::ui::Recording;

    #[test]
    fn only_failures_and_the_report_pass() {
        let rec = Arc::new(Recording::default());
        let quiet = Quiet::new(rec.clone());
        let finished = |status| Event::StepFinished {
            step: "s".into(),
            status,
            duration_ms: 1,
            message: None,
        };
        quiet.event(&Event::StepLog {
            step: "s".into(),
            level: Level::Info,
            message: "chatty".into(),
        });
        quiet.event(&finished(StepStatus::Succeeded));
        quiet.event(&finished(StepStatus::Failed));
        assert_eq!(rec.events(), vec![finished(StepStatus::Failed)]);
    }
}
