//! Events the engine and steps push to a [`Reporter`], and the final run report.
//!
//! Every event passes through the redactor before any reporter sees it ([`Redacting`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::checkpoint::{RunStatus, StepStatus};
use crate::redact::Redactor;

/// Severity of a step's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Info,
    Warn,
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        mode: String,
        steps: Vec<String>,
        resumed: bool,
    },
    StepStarted {
        step: String,
        uses: String,
        attempt: u32,
        description: String,
    },
    StepProgress {
        step: String,
        message: String,
        done: Option<u64>,
        total: Option<u64>,
    },
    StepLog {
        step: String,
        level: Level,
        message: String,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        duration_ms: u64,
        message: Option<String>,
    },
    RunFinished {
        report: Report,
    },
}

/// The summary every run ends with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub run_id: String,
    pub runbook: String,
    pub mode: String,
    pub status: RunStatus,
    pub duration_ms: u64,
    pub steps: Vec<StepReport>,
    /// Why the run stopped, when it did not succeed.
    pub message: Option<String>,
    /// The command that continues this run, when it can be resumed.
    pub resume: Option<String>,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StepReport {
    pub id: String,
    pub status: StepStatus,
    pub attempts: u32,
    pub duration_ms: Option<u64>,
    pub writes: bool,
    pub error: Option<String>,
    /// What the step found or did (its checkpointed outputs, redacted; never its secrets).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A sink for events: terminal, JSON lines, progress bars, a recorder in tests.
pub(crate) trait Reporter: Send + Sync {
    fn event(&self, event: &Event);
}

/// Masks secrets in every event before passing it on.
pub(crate) struct Redacting {
    inner: Arc<dyn Reporter>,
    redactor: Redactor,
}

impl Redacting {
    pub(crate) fn new(inner: Arc<dyn Reporter>, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }
}

impl Reporter for Redacting {
    fn event(&self, event: &Event) {
        // A JSON round trip reaches every string field, including ones added later.
        let redacted = serde_json::to_value(event)
            .map(|v| self.redactor.redact_json(&v))
            .and_then(serde_json::from_value::<Event>);
        match redacted {
            Ok(e) => self.inner.event(&e),
            Err(_) => self.inner.event(&Event::StepLog {
                step: String::new(),
                level: Level::Warn,
                message: "an event could not be redacted and was dropped".into(),
            }),
        }
    }
}

/// A step's handle on the reporter: events carry the step id.
#[derive(Clone)]
pub(crate) struct StepEvents {
    step: String,
    reporter: Arc<dyn Reporter>,
}

impl StepEvents {
    pub(crate) fn new(step: &str, reporter: Arc<dyn Reporter>) -> Self {
        Self {
            step: step.to_string(),
            reporter,
        }
    }

    pub(crate) fn log(&self, message: impl Into<String>) {
        self.send_log(Level::Info, message.into());
    }

    pub(crate) fn warn(&self, message: impl Into<String>) {
        self.send_log(Level::Warn, message.into());
    }

    fn send_log(&self, level: Level, message: String) {
        self.reporter.event(&Event::StepLog {
            step: self.step.clone(),
            level,
            message,
        });
    }

    /// Progress, optionally as `done` of `total` items or bytes.
    pub(crate) fn progress(
        &self,
        message: impl Into<String>,
        done: Option<u64>,
        total: Option<u64>,
    ) {
        self.reporter.event(&Event::StepProgress {
            step: self.step.clone(),
            message: message.into(),
            done,
            total,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Recording;

    #[test]
    fn redacting_reporter_masks_every_field() {
        let rec = Arc::new(Recording::default());
        let redactor = Redactor::new();
        redactor.learn_str("topsecret");
        let r = Redacting::new(rec.clone(), redactor);
        StepEvents::new("s", Arc::new(r)).log("value=topsecret");
        let events = rec.events();
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains("topsecret"), "{text}");
        assert!(text.contains("value=********"), "{text}");
    }
}
