//! The top-level error and the one place that maps failures to exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | internal or environment failure (state store unreadable, output closed) |
//! | 2 | bad input or usage: runbook errors, bad params, unknown run id |
//! | 3 | refused: confirmation declined, no terminal and no `--yes`, prod guard, needs manual check, runbook changed |
//! | 4 | a step failed |
//! | 5 | interrupted (SIGINT/SIGTERM); the checkpoint is saved and `cnpgops resume` continues |

use crate::engine::{EngineError, Report, RunStatus, StoreError};
use crate::runbook::RunbookError;

/// Exit codes, see the module documentation.
pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const INTERNAL: u8 = 1;
    pub(crate) const BAD_INPUT: u8 = 2;
    pub(crate) const REFUSED: u8 = 3;
    pub(crate) const STEP_FAILED: u8 = 4;
    pub(crate) const INTERRUPTED: u8 = 5;
}

/// Anything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Runbook(#[from] RunbookError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("{message}")]
    Refused { message: String },
    #[error("{message}")]
    StepFailed { message: String },
    #[error("{message}")]
    Interrupted { message: String },
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Catalog(Box<crate::backup_catalog::CatalogError>),
}

impl From<crate::backup_catalog::CatalogError> for Error {
    fn from(e: crate::backup_catalog::CatalogError) -> Self {
        Error::Catalog(Box::new(e))
    }
}

/// An error and its causes on one line (`failed to X: because Y: because Z`): the one way
/// cnpgops renders an error chain, in messages, reports and on stderr.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Prints a command's error on stderr (its chain, redacted) and returns its exit code.
pub(crate) fn report(err: &Error, redactor: &crate::redact::Redactor) -> u8 {
    eprintln!("error: {}", redactor.redact(&chain(err)));
    err.exit_code()
}

impl Error {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::Runbook(_) | Error::Usage(_) | Error::NotSupported(_) => exit::BAD_INPUT,
            Error::Store(StoreError::NotFound { .. }) => exit::BAD_INPUT,
            Error::Store(_) | Error::Runtime(_) => exit::INTERNAL,
            Error::Catalog(e) if e.is_bad_input() => exit::BAD_INPUT,
            Error::Catalog(_) => exit::INTERNAL,
            Error::Engine(e) => match e {
                EngineError::Runbook(_)
                | EngineError::Finished { .. }
                | EngineError::UnknownStep { .. } => exit::BAD_INPUT,
                EngineError::Store(StoreError::NotFound { .. }) => exit::BAD_INPUT,
                EngineError::DigestChanged { .. } => exit::REFUSED,
                EngineError::Store(_) => exit::INTERNAL,
            },
            Error::Refused { .. } => exit::REFUSED,
            Error::StepFailed { .. } => exit::STEP_FAILED,
            Error::Interrupted { .. } => exit::INTERRUPTED,
        }
    }

    /// The outcome of a finished run as a result.
    pub(crate) fn from_report(report: &Report) -> Result<(), Error> {
        let message = || {
            report
                .message
                .clone()
                .unwrap_or_else(|| format!("run {} did not finish", report.run_id))
        };
        match report.status {
            RunStatus::Succeeded => Ok(()),
            RunStatus::Failed => Err(Error::StepFailed { message: message() }),
            RunStatus::BadInput => Err(Error::Usage(message())),
            RunStatus::Refused | RunStatus::NeedsManualCheck => {
                Err(Error::Refused { message: message() })
            }
            RunStatus::Interrupted | RunStatus::Running => {
                Err(Error::Interrupted { message: message() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_code() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(
            Error::Refused {
                message: "x".into()
            }
            .exit_code(),
            3
        );
        assert_eq!(
            Error::StepFailed {
                message: "x".into()
            }
            .exit_code(),
            4
        );
        assert_eq!(
            Error::Interrupted {
                message: "x".into()
            }
            .exit_code(),
            5
        );
        let nf = StoreError::NotFound {
            run_id: "r".into(),
            location: "d".into(),
        };
        assert_eq!(Error::Store(nf).exit_code(), 2);
    }

    #[test]
    fn the_chain_joins_every_cause_once() {
        let io = std::io::Error::other("disk gone");
        let err = Error::Runtime(io);
        assert_eq!(chain(&err), "failed to start the async runtime: disk gone");
        let usage = Error::Usage("bad flag".into());
        assert_eq!(chain(&usage), "bad flag");
    }
}
