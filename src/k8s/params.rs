//! Write parameters decided at the side effect: in `--dry-run` every write carries `dryRun=All`.

use kube::api::{DeleteParams, PatchParams, PostParams, PropagationPolicy};

use super::FIELD_MANAGER;
use crate::engine::RunMode;

/// Whether writes go out as server-side dry runs.
pub(crate) fn dry(mode: RunMode) -> bool {
    mode != RunMode::Real
}

/// Server-side apply as field manager `cnpgops` (forcing conflicts: the runbook owns these fields).
pub(crate) fn apply(mode: RunMode) -> PatchParams {
    let p = PatchParams::apply(FIELD_MANAGER).force();
    if dry(mode) {
        p.dry_run()
    } else {
        p
    }
}

/// A merge patch (or any non-apply patch).
pub(crate) fn patch(mode: RunMode) -> PatchParams {
    PatchParams {
        dry_run: dry(mode),
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

pub(crate) fn post(mode: RunMode) -> PostParams {
    PostParams {
        dry_run: dry(mode),
        field_manager: Some(FIELD_MANAGER.into()),
    }
}

/// A delete with `propagation`, only of the object with `uid`.
pub(crate) fn delete(
    mode: RunMode,
    propagation: PropagationPolicy,
    uid: Option<String>,
) -> DeleteParams {
    DeleteParams {
        dry_run: dry(mode),
        propagation_policy: Some(propagation),
        preconditions: uid.map(|uid| kube::api::Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_runs_mark_every_write() {
        assert!(apply(RunMode::DryRun).dry_run);
        assert!(!apply(RunMode::Real).dry_run);
        assert!(patch(RunMode::DryRun).dry_run && post(RunMode::DryRun).dry_run);
        let d = delete(
            RunMode::DryRun,
            PropagationPolicy::Foreground,
            Some("u".into()),
        );
        assert!(d.dry_run);
        assert_eq!(d.preconditions.unwrap().uid.as_deref(), Some("u"));
        assert_eq!(
            apply(RunMode::Real).field_manager.as_deref(),
            Some("cnpgops")
        );
    }
}
