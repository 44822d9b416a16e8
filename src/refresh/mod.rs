//! The dev <- prod refresh as data: the dump/restore Job's manifest and script ([`job`]), and
//! the reading of pg_dump / pg_restore verbose lines into progress ([`progress`]).
//!
//! No Kubernetes calls here: `steps::refresh_job` creates the Job and follows it.

pub mod job;
pub mod progress;

/// How the restore replaces the target's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Clean + restore as one script in one transaction (`BEGIN` ... `COMMIT`): a failure at
    /// any point leaves the target as it was.
    Atomic,
    /// Clean in one transaction, then `pg_restore --jobs N`: faster on big databases with many
    /// indexes, but a failure after the clean leaves the target partly restored.
    Parallel,
}

impl Mode {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "atomic" => Ok(Mode::Atomic),
            "parallel" => Ok(Mode::Parallel),
            other => Err(format!(
                "unknown restore mode `{other}`: expected atomic or parallel"
            )),
        }
    }

    /// What a failure leaves behind, for the plan and the report.
    pub fn promise(self) -> &'static str {
        match self {
            Mode::Atomic => "atomic: clean + restore in one transaction, a failure leaves the target as it was",
            Mode::Parallel => "NOT atomic: parallel pg_restore after a separate clean, a failure leaves the target partly restored",
        }
    }
}
