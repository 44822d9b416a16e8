//! Progress bars on a terminal: one line per step with a spinner, elapsed time and counts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::engine::StepStatus;
use crate::engine::{Event, Reporter};

const SPINNER: &str = "{spinner} {prefix:20} {elapsed:>4} {msg}";
const COUNTED: &str = "{spinner} {prefix:20} {elapsed:>4} {msg} {pos}/{len}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// indicatif bars, one per running step; log lines print above them.
pub(crate) struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            bars: Mutex::default(),
        }
    }

    fn bar(&self, step: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(step).cloned()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for Progress {
    fn event(&self, event: &Event) {
        match event {
            Event::StepStarted {
                step, description, ..
            } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style(SPINNER));
                bar.set_prefix(step.clone());
                bar.set_message(description.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(step.clone(), bar);
                }
            }
            Event::StepProgress {
                step,
                message,
                done,
                total,
            } => {
                if let Some(bar) = self.bar(step) {
                    bar.set_message(message.clone());
                    if let Some(t) = total {
                        bar.set_style(style(COUNTED));
                        bar.set_length(*t);
                    }
                    if let Some(d) = done {
                        bar.set_position(*d);
                    }
                }
            }
            Event::StepFinished {
                step,
                status,
                message,
                ..
            } => {
                // Coloured unless --no-color / $NO_COLOR (console's global switch).
                let mark = match status {
                    StepStatus::Succeeded => console::style("ok").for_stderr().green(),
                    StepStatus::Failed => console::style("!!").for_stderr().red(),
                    _ => console::style("--").for_stderr().yellow(),
                };
                let text = super::plain::line(event).unwrap_or_default();
                let word = serde_json::to_value(status).ok();
                let word = word.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
                match self.bar(step) {
                    Some(bar) => {
                        bar.set_style(style(SPINNER));
                        let detail = message.clone().unwrap_or_default();
                        bar.finish_with_message(format!("{mark} {word} {detail}"));
                    }
                    None => {
                        let _ = self.multi.println(text);
                    }
                }
            }
            other => {
                if let Some(text) = super::plain::line(other) {
                    let _ = self.multi.println(text);
                }
            }
        }
    }
}
