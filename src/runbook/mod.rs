//! Runbooks as data: parse YAML with positions, check params and templates, find runbooks.
//!
//! Flow: [`source::Source`] (embedded or a file) -> [`model::parse`] (serde-saphyr, spans) ->
//! [`validate::validate`] (kinds, ids, params, template references) -> [`Runbook`].

pub(crate) mod error;
pub(crate) mod kinds;
pub(crate) mod known;
pub(crate) mod model;
pub(crate) mod node;
pub(crate) mod params;
pub(crate) mod source;
pub(crate) mod template;
pub(crate) mod validate;

use std::time::Duration;

use serde::Serialize;

pub(crate) use error::{Diagnostic, Pos, RunbookError};
pub(crate) use kinds::{input, InputSpec, KindSignature, KindSignatures};
pub(crate) use node::Node;
pub(crate) use params::{ParamSpec, ParamValues};
pub(crate) use source::Source;

/// A value with the position it was written at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Located<T> {
    pub value: T,
    #[serde(skip)]
    pub pos: Pos,
}

/// How often a step is tried, and the first delay between tries (doubled after each failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Retries {
    pub attempts: u32,
    #[serde(with = "humantime_serde_compat")]
    pub backoff: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            attempts: 1,
            backoff: Duration::from_secs(1),
        }
    }
}

/// A checked runbook.
#[derive(Debug, Clone)]
pub(crate) struct Runbook {
    pub name: String,
    pub summary: String,
    pub description: Option<String>,
    pub params: Vec<ParamSpec>,
    /// Template of the `NAMESPACE/NAME` target held locked for the whole run (see
    /// `engine::lock`); only `params` and `profile` may be read.
    pub lock: Option<Located<String>>,
    pub steps: Vec<StepSpec>,
    /// Where `name:` was written (unknown `-p` names are reported there).
    pub name_pos: Pos,
}

/// A checked step.
#[derive(Debug, Clone)]
pub(crate) struct StepSpec {
    pub id: String,
    pub uses: String,
    /// The step's `description:`, for people reading the runbook.
    #[allow(
        dead_code,
        reason = "kept from the YAML for people; cnpgops does not print it"
    )]
    pub description: Option<String>,
    pub with: Node,
    pub destructive: bool,
    /// Template of the name the user must type before this destructive step runs.
    pub confirm: Option<Located<String>>,
    pub timeout: Option<Duration>,
    pub retries: Retries,
    /// Expression; the step is skipped when it is false.
    pub when: Option<Located<String>>,
    /// Runs even after an earlier step failed (cleanup).
    pub always: bool,
    /// Its effect is undone by an `always` step (scaling an app down): when a failed run is
    /// resumed before a later step, it runs again (its kind adopts its own notes).
    pub rerun_on_resume: bool,
    pub pos: Pos,
}

/// A runbook with the text it came from.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub runbook: Runbook,
    pub source: Source,
}

/// Parses and validates a source.
pub(crate) fn load(source: Source, kinds: &dyn KindSignatures) -> Result<Loaded, RunbookError> {
    let raw = model::parse(&source.display, &source.text)?;
    let runbook = validate::validate(&source.display, raw, kinds)?;
    Ok(Loaded { runbook, source })
}

mod humantime_serde_compat {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

#[cfg(test)]
mod tests;
