//! `-o json`: one JSON object per line on stdout; the last one is the run report.

use std::io::Write;

use crate::engine::{Event, Reporter};

/// Writes each event as a JSON line to stdout.
#[derive(Debug, Default)]
pub(crate) struct JsonLines;

impl Reporter for JsonLines {
    fn event(&self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) must not stop the run.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
