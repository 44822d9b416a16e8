//! The contract between the engine and a step kind: plan with rendered inputs, then run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::checkpoint::CheckpointHandle;
use super::events::StepEvents;
use crate::redact::{Redactor, SecretString};
use crate::runbook::KindSignature;

/// How far a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// Render only; no step runs.
    Plan,
    /// Reads run for real; every write is sent as a server-side dry run or only described.
    DryRun,
    Real,
}

/// What a step will do, from its rendered inputs (shown by `plan` and before confirmation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StepPlan {
    /// One human sentence.
    pub description: String,
    /// Whether it changes anything outside cnpgops' own state.
    pub writes: bool,
    /// Whether the thing it changes is a production target (needs `--allow-prod`).
    pub prod: bool,
}

/// A step's rendered `with:` inputs with typed accessors.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Inputs(pub Map<String, Value>);

impl Inputs {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required string (numbers and booleans are accepted as their text).
    pub(crate) fn str(&self, name: &str) -> Result<String, StepError> {
        match self.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
            Some(_) => Err(StepError::input(name, "expected a string")),
            None => Err(StepError::input(name, "missing")),
        }
    }

    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<String>, StepError> {
        self.get(name).map(|_| self.str(name)).transpose()
    }

    /// A boolean, `default` when absent.
    pub(crate) fn bool_or(&self, name: &str, default: bool) -> Result<bool, StepError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            Some(_) => Err(StepError::input(name, "expected true or false")),
        }
    }

    /// An integer (a string of digits is accepted, as templates render to strings).
    pub(crate) fn int(&self, name: &str) -> Result<i64, StepError> {
        match self.get(name) {
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| StepError::input(name, "expected an integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| StepError::input(name, "expected an integer")),
            Some(_) => Err(StepError::input(name, "expected an integer")),
            None => Err(StepError::input(name, "missing")),
        }
    }

    /// A duration written like `10s`, or a number of seconds.
    pub(crate) fn duration(&self, name: &str) -> Result<Duration, StepError> {
        match self.get(name) {
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|s| *s >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| StepError::input(name, "expected a non-negative number of seconds")),
            Some(Value::String(s)) => humantime::parse_duration(s).map_err(|e| {
                StepError::input(name, &format!("expected a duration like `5s` ({e})"))
            }),
            Some(_) => Err(StepError::input(name, "expected a duration")),
            None => Err(StepError::input(name, "missing")),
        }
    }
}

/// What a step returns: values later steps read, and secrets that are never persisted.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub values: BTreeMap<String, Value>,
    /// Readable by later templates during this process, registered with the redactor, never
    /// written to a checkpoint. A resumed run re-runs the (read-only) step to get them again.
    pub secrets: BTreeMap<String, SecretString>,
}

impl Outputs {
    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.values.insert(key.to_string(), value.into());
        self
    }
}

/// Why a step did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error("invalid input `{name}`: {message}")]
    Input { name: String, message: String },
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error("interrupted")]
    Cancelled,
    /// The step refuses to go on (e.g. the target is production, the source is unhealthy):
    /// the run ends `refused` (exit code 3) after its `always` steps.
    #[error("{0}")]
    Refused(String),
    /// Something the step was pointed at does not exist or is unusable (a missing cluster or
    /// secret): the run ends `bad-input` (exit code 2) after its `always` steps.
    #[error("{0}")]
    BadInput(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StepError {
    pub(crate) fn input(name: &str, message: &str) -> Self {
        StepError::Input {
            name: name.to_string(),
            message: message.to_string(),
        }
    }

    /// Whether another attempt could succeed (bad inputs and interruptions never do).
    pub(crate) fn retryable(&self) -> bool {
        !matches!(
            self,
            StepError::Input { .. }
                | StepError::Cancelled
                | StepError::Refused(_)
                | StepError::BadInput(_)
        )
    }
}

/// Everything a running step may use; steps never print, they push events.
pub(crate) struct StepContext {
    pub step_id: String,
    pub inputs: Inputs,
    pub cancel: CancellationToken,
    pub events: StepEvents,
    pub redactor: Redactor,
    pub mode: RunMode,
    pub checkpoint: CheckpointHandle,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl StepContext {
    /// Sleeps unless cancelled first.
    pub(crate) async fn sleep(&self, duration: Duration) -> Result<(), StepError> {
        tokio::select! {
            _ = tokio::time::sleep(duration) => Ok(()),
            _ = self.cancel.cancelled() => Err(StepError::Cancelled),
        }
    }
}

/// A step kind. Register it in `crate::steps::registry`.
#[async_trait::async_trait]
pub(crate) trait Step: Send + Sync {
    fn signature(&self) -> &'static KindSignature;

    /// Describes what it will do with these inputs; must not contact anything.
    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError>;

    /// Does it. In [`RunMode::DryRun`] a write is sent as a server-side dry run or only described.
    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError>;

    /// `Some(name)` when the step is an explicit confirmation point (the `confirm` kind): the
    /// engine asks the person to type `name` before running it, through the same machinery as
    /// a destructive step (`--yes`, no terminal, `--allow-prod` when the plan says `prod`).
    fn confirmation_target(&self, inputs: &Inputs) -> Result<Option<String>, StepError> {
        let _ = inputs;
        Ok(None)
    }
}
