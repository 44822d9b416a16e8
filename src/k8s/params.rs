//! Write parameters decided at the side effect: in `--dry-run` every write carries `dryRun=All`.

use kube::api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};

use super::FIELD_MANAGER;
use crate::engine::Mode;

/// Whether writes go out as server-side dry runs.
pub fn dry(mode: Mode) -> bool {
    mode != Mode::Real
}

/// Server-side apply as field manager `cnpgops` (forcing conflicts: the runbook owns these fields).
pub fn apply(mode: Mode) -> PatchParams {
    let p = PatchParams::apply(FIELD_MANAGER).force();
    if dry(mode) {
        p.dry_run()
    } else {
        p
    }
}

/// A merge patch (or any non-apply patch).
pub fn patch(mode: Mode) -> PatchParams {
    PatchParams {
        dry_run: dry(mode),
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

pub fn post(mode: Mode) -> PostParams {
    PostParams {
        dry_run: dry(mode),
        field_manager: Some(FIELD_MANAGER.into()),
    }
}

/// A delete with `propagation`, only of the object with `uid`.
pub fn delete(mode: Mode, propagation: PropagationPolicy, uid: Option<String>) -> DeleteParams {
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

/// A JSON merge patch body.
pub fn merge(value: serde_json::Value) -> Patch<serde_json::Value> {
    Patch::Merge(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_runs_mark_every_write() {
        assert!(apply(Mode::DryRun).dry_run);
        assert!(!apply(Mode::Real).dry_run);
        assert!(patch(Mode::DryRun).dry_run && post(Mode::DryRun).dry_run);
        let d = delete(
            Mode::DryRun,
            PropagationPolicy::Foreground,
            Some("u".into()),
        );
        assert!(d.dry_run);
        assert_eq!(d.preconditions.unwrap().uid.as_deref(), Some("u"));
        assert_eq!(apply(Mode::Real).field_manager.as_deref(), Some("cnpgops"));
    }
}
