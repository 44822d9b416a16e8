//! Errors of the sandbox world, each naming the instance, file or tool it is about.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("{what}: failed to start {program}: {source}")]
    Spawn {
        what: String,
        program: String,
        source: std::io::Error,
    },
    #[error("{what}: {program} exited with {status}: {stderr}")]
    Command {
        what: String,
        program: String,
        status: String,
        stderr: String,
    },
    #[error("{what}: {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: not ready after {secs}s")]
    Timeout { what: String, secs: u64 },
    #[error("no free server address left in 10.244.16.0–10.244.127.255")]
    NoAddress,
    #[error("the sandbox network: {0}")]
    Network(String),
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

impl WorldError {
    pub fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WorldError::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        WorldError::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = WorldError> = std::result::Result<T, E>;
