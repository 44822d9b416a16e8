//! Plain timestamped lines on stderr, for logs and pipes.

use std::io::Write;

use crate::engine::events::Level;
use crate::engine::{Event, Reporter};

/// One line per event on stderr.
#[derive(Debug, Default)]
pub(crate) struct PlainLines;

/// The line for an event, without timestamp; `None` for events it does not show.
pub(super) fn line(event: &Event) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            run_id,
            runbook,
            mode,
            steps,
            resumed,
        } => {
            let verb = if *resumed { "resuming" } else { "starting" };
            format!(
                "{verb} run {run_id} of {runbook} ({mode}, {} steps)",
                steps.len()
            )
        }
        Event::StepStarted {
            step,
            uses,
            attempt,
            description,
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            format!("{step} [{uses}]{again}: {description}")
        }
        Event::StepProgress {
            step,
            message,
            done,
            total,
        } => match (done, total) {
            (Some(d), Some(t)) => format!("{step}: {message} ({d}/{t})"),
            _ => format!("{step}: {message}"),
        },
        Event::StepLog {
            step,
            level: Level::Info,
            message,
        } => format!("{step}: {message}"),
        Event::StepLog {
            step,
            level: Level::Warn,
            message,
        } => format!("{step}: warning: {message}"),
        Event::StepFinished {
            step,
            status,
            duration_ms,
            message,
        } => {
            let status = serde_json::to_value(status).ok()?.as_str()?.to_string();
            match message {
                Some(m) => format!("{step}: {status}: {m}"),
                None => format!("{step}: {status} in {duration_ms}ms"),
            }
        }
        Event::RunFinished { .. } => return None,
    })
}

impl Reporter for PlainLines {
    fn event(&self, event: &Event) {
        if let Some(text) = line(event) {
            let now = chrono::Utc::now().format("%H:%M:%S");
            let _ = writeln!(std::io::stderr().lock(), "{now} {text}");
        }
    }
}
