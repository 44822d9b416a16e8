//! Reporter implementations: plain lines, JSON lines, progress bars (and, in tests, a recorder).
//!
//! The engine only knows the [`crate::engine::Reporter`] trait; the command picks one here.

mod json;
mod plain;
mod progress;
mod quiet;
#[cfg(test)]
mod recording;

use std::io::IsTerminal;
use std::sync::Arc;

pub(crate) use json::JsonLines;
pub(crate) use plain::PlainLines;
pub(crate) use progress::Progress;
pub(crate) use quiet::Quiet;
#[cfg(test)]
pub(crate) use recording::Recording;

use crate::engine::events::Report;
use crate::engine::Reporter;

/// `-o text` or `-o json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum Format {
    #[default]
    Text,
    Json,
}

/// The reporter for a format: JSON lines on stdout, progress bars on a terminal, else lines;
/// `quiet` (`-q`) keeps only failed steps and the final report.
pub(crate) fn reporter_for(format: Format, quiet: bool) -> Arc<dyn Reporter> {
    match format {
        Format::Json if quiet => Arc::new(Quiet::new(Arc::new(JsonLines))),
        Format::Json => Arc::new(JsonLines),
        Format::Text if quiet => Arc::new(Quiet::new(Arc::new(PlainLines))),
        Format::Text if std::io::stderr().is_terminal() => Arc::new(Progress::new()),
        Format::Text => Arc::new(PlainLines),
    }
}

/// Whether to colour terminal output: not with `--no-color`, not when `$NO_COLOR` is set
/// (non-empty, see no-color.org), and only when stderr is a terminal.
pub(crate) fn color_enabled(no_color_flag: bool) -> bool {
    let env_says_no = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !env_says_no && std::io::stderr().is_terminal()
}

/// The final report as text lines (for stdout in `-o text`).
pub(crate) fn report_text(report: &Report) -> String {
    let mut out = format!(
        "run {} of {} ({}): {} in {}ms\n",
        report.run_id,
        report.runbook,
        report.mode,
        status_word(&report.status),
        report.duration_ms
    );
    for step in &report.steps {
        let status = serde_json::to_value(step.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<20} {:<10} attempts={}",
            step.id, status, step.attempts
        ));
        if let Some(ms) = step.duration_ms {
            out.push_str(&format!(" {ms}ms"));
        }
        if step.writes {
            out.push_str(" writes");
        }
        if let Some(err) = &step.error {
            out.push_str(&format!("  error: {err}"));
        }
        out.push('\n');
        out.push_str(&phases_line(step));
    }
    if let Some(message) = &report.message {
        out.push_str(&format!("{message}\n"));
    }
    if let Some(resume) = &report.resume {
        out.push_str(&format!("to continue: {resume}\n"));
    }
    out
}

/// A step's `phases` output (`[{phase, ms}]`, the refresh Job's) as an indented line.
fn phases_line(step: &crate::engine::events::StepReport) -> String {
    let Some(phases) = step.outputs.get("phases").and_then(|p| p.as_array()) else {
        return String::new();
    };
    let parts: Vec<String> = phases
        .iter()
        .filter_map(|p| Some(format!("{} {}ms", p["phase"].as_str()?, p["ms"].as_u64()?)))
        .collect();
    format!("    phases: {}\n", parts.join(", "))
}

fn status_word(status: &crate::engine::RunStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
