//! The dev <- prod refresh as data: the dump/restore Job's manifest and script ([`job_manifest`]),
//! the reading of pg_dump / pg_restore verbose lines into progress ([`progress`]) and of
//! PostgreSQL's progress views ([`copy_progress`]), the timing of the Job's phases
//! ([`phases`]), the rows the restore's transaction counted ([`copied`]), and both methods'
//! expected times ([`estimate`]).
//!
//! No Kubernetes calls here: `steps::refresh_job` creates the Job and follows it.

pub(crate) mod copied;
pub(crate) mod copy_progress;
pub(crate) mod estimate;
pub(crate) mod job_manifest;
pub(crate) mod mask;
pub(crate) mod phases;
pub(crate) mod pod;
pub(crate) mod progress;
pub(crate) mod space;

/// How the restore replaces the target's contents (`refresh-dev --mode`, the `mode` input of
/// `refresh.job`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum RefreshMode {
    /// The dump to a file first, then clean + restore as one script in one transaction
    /// (`BEGIN` ... `COMMIT`): a failure at any point leaves the target as it was, a failed
    /// dump never touches it.
    Atomic,
    /// The default: the dump piped into the same one transaction as the clean and restore: as
    /// safe as `Atomic` (a failure anywhere rolls back), faster (no file, no compression, dump
    /// and restore overlap; the app is stopped while the target is locked either way).
    #[default]
    Stream,
    /// Clean in one transaction, then `pg_restore --jobs N`: faster on big databases with many
    /// indexes, but a failure after the clean leaves the target partly restored.
    Parallel,
}

impl RefreshMode {
    /// The mode written as `text` (`atomic`, `stream`, `parallel`): the one parser of the flag
    /// and of runbook inputs.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(text, false).map_err(|_| {
            format!("unknown restore mode `{text}`: expected atomic, stream or parallel")
        })
    }

    /// What a failure leaves behind, for the plan and the report.
    pub(crate) fn promise(self) -> &'static str {
        match self {
            RefreshMode::Atomic => "atomic: clean + restore in one transaction, a failure leaves the target as it was",
            RefreshMode::Stream => "atomic: dump streamed into one transaction with the clean and restore, a failure leaves the target as it was",
            RefreshMode::Parallel => "NOT atomic: parallel pg_restore after a separate clean, a failure leaves the target partly restored",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_say_whether_they_are_atomic() {
        for (text, mode) in [
            ("atomic", RefreshMode::Atomic),
            ("stream", RefreshMode::Stream),
            ("parallel", RefreshMode::Parallel),
        ] {
            assert_eq!(RefreshMode::parse(text), Ok(mode));
        }
        assert!(RefreshMode::parse("fast")
            .unwrap_err()
            .contains("atomic, stream or parallel"));
        assert!(RefreshMode::Parallel.promise().starts_with("NOT atomic"));
        assert!(RefreshMode::Stream.promise().starts_with("atomic"));
    }
}
