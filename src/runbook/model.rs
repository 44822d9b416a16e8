//! The runbook file format as written: serde types that keep the position of every field.
//!
//! These are only the shape of the YAML; `validate` turns them into a checked [`super::Runbook`].

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{Diagnostic, Pos, RunbookError};
use super::node::Node;

/// A runbook file as parsed, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunbook {
    pub name: Spanned<String>,
    pub summary: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub params: Vec<Spanned<RawParam>>,
    /// Template of the `NAMESPACE/NAME` target the run holds a lock on.
    #[serde(default)]
    pub lock: Option<Spanned<String>>,
    pub steps: Spanned<Vec<Spanned<RawStep>>>,
}

/// One parameter declaration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawParam {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub ty: Spanned<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<Node>,
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
    /// The allowed values of an `enum` parameter.
    #[serde(default)]
    pub values: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// One step as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub id: Spanned<String>,
    pub uses: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "with")]
    pub with_: Option<Node>,
    #[serde(default)]
    pub destructive: bool,
    #[serde(default)]
    pub confirm: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub retries: Option<Spanned<RawRetries>>,
    #[serde(default)]
    pub when: Option<Spanned<String>>,
    #[serde(default)]
    pub always: bool,
    #[serde(default)]
    pub rerun_on_resume: bool,
}

/// `retries: {attempts: 3, backoff: 2s}`: attempts in total, first delay (doubled each time).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetries {
    pub attempts: u32,
    #[serde(default)]
    pub backoff: Option<Spanned<String>>,
}

/// Parses YAML text; a syntax or shape error names `file:line:col` and what was expected.
pub(crate) fn parse(file: &str, text: &str) -> Result<RawRunbook, RunbookError> {
    serde_saphyr::from_str::<RawRunbook>(text).map_err(|err| {
        let pos = err.location().map(Pos::from).unwrap_or(Pos::new(1, 1));
        let formatter = serde_saphyr::DefaultMessageFormatter;
        let message =
            serde_saphyr::MessageFormatter::format_message(&formatter, err.without_snippet());
        let mut message: String = message.escape_debug().collect();
        if message == "invalid boolean" {
            message.push_str(": expected true or false");
        }
        RunbookError::Invalid {
            diagnostics: vec![Diagnostic {
                file: file.to_string(),
                pos,
                message: format!("failed to parse runbook: {message}"),
            }],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(text: &str) -> String {
        parse("rb.yaml", text).unwrap_err().to_string()
    }

    #[test]
    fn syntax_error_names_file_line_col() {
        let err = first_error("name: x\nsummary: s\nsteps:\n  - id: [unclosed\n");
        assert!(err.starts_with("rb.yaml:"), "{err}");
        assert!(err.contains("failed to parse runbook"), "{err}");
    }

    #[test]
    fn unknown_field_points_at_it() {
        let err = first_error("name: x\nsummary: s\nstepz: []\nsteps: []\n");
        assert!(err.starts_with("rb.yaml:3:1:"), "{err}");
        assert!(err.contains("stepz"), "{err}");
    }

    #[test]
    fn missing_field_is_reported() {
        let err = first_error("name: x\nsteps: []\n");
        assert!(err.contains("summary"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_expectation() {
        let err = first_error(
            "name: x\nsummary: s\nsteps:\n  - id: a\n    uses: log\n    destructive: maybe\n",
        );
        assert!(err.starts_with("rb.yaml:6:"), "{err}");
    }
}
