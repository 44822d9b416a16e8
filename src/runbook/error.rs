//! Runbook errors: every problem found in a runbook names file:line:col and what was expected.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A 1-based line and column inside a runbook file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub(crate) struct Pos {
    pub line: u64,
    pub col: u64,
}

impl Pos {
    pub(crate) fn new(line: u64, col: u64) -> Self {
        Self { line, col }
    }
}

impl From<serde_saphyr::Location> for Pos {
    fn from(loc: serde_saphyr::Location) -> Self {
        Self::new(loc.line(), loc.column())
    }
}

/// One problem at one place in a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.col, self.message
        )
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub(crate) struct Diagnostics {
    file: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            items: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, pos: Pos, message: impl Into<String>) {
        self.items.push(Diagnostic {
            file: self.file.clone(),
            pos,
            message: message.into(),
        });
    }

    /// Whether nothing was reported.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok(value)` when nothing was reported, else the collected diagnostics.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, RunbookError> {
        if self.items.is_empty() {
            return Ok(value);
        }
        self.items.sort_by_key(|d| (d.pos.line, d.pos.col));
        Err(RunbookError::Invalid {
            diagnostics: self.items,
        })
    }
}

/// Why a runbook could not be loaded, parsed, validated or given parameters.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunbookError {
    #[error("failed to read runbook {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to find runbook `{name}`: not a file and not a known runbook (see `cnpgops runbooks list`)")]
    NotFound { name: String },
    #[error("{}", render(diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

impl RunbookError {
    /// The diagnostics, when the error is about the runbook's content.
    #[cfg(test)]
    pub(crate) fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            RunbookError::Invalid { diagnostics } => diagnostics,
            _ => &[],
        }
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_lists_every_diagnostic_sorted_by_position() {
        let mut d = Diagnostics::new("rb.yaml");
        d.push(Pos::new(9, 3), "second");
        d.push(Pos::new(2, 1), "first");
        let err = d.finish(()).unwrap_err();
        assert_eq!(err.to_string(), "rb.yaml:2:1: first\nrb.yaml:9:3: second");
    }
}
