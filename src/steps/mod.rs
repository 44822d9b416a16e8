//! Step kinds: one file per kind, named like its `uses:` value; [`registry`] lists them all.
//!
//! The [`Step`] trait itself lives in `engine::step` so the engine never depends on the kinds
//! (which, for Kubernetes kinds, import kube).

mod argo_app;
mod argo_autosync;
mod argo_delete_hooks;
mod argo_failed_hooks;
mod argo_sync;
mod assert;
mod cnpg_backup;
mod cnpg_cluster;
mod cnpg_delete_cluster;
mod cnpg_verify_restore;
mod confirm;
mod file_append;
mod kube_annotate;
mod kube_apply;
mod kube_delete;
mod kube_event;
mod kube_get;
mod kube_rollout_restart;
mod kube_scale;
mod kube_scale_all;
mod kube_secret;
mod kube_wait;
mod log;
mod pg_exec;
mod pg_terminate;
mod pg_verify;
mod refresh_job;
mod refresh_preflight;
mod restore_plan;
mod secret_env;
mod sleep;

use std::sync::Arc;

pub use crate::engine::step::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};
use crate::engine::Registry;
use crate::k8s::Connector;

/// Every step kind, with Kubernetes kinds connecting from the environment's defaults (for
/// validation and tests; commands use [`registry_with`]).
pub fn registry() -> Registry {
    registry_with(Connector::default())
}

/// Every step kind cnpgops knows; Kubernetes kinds connect through `kube` on first use.
pub fn registry_with(kube: Connector) -> Registry {
    let mut r = Registry::default();
    r.register(Arc::new(assert::Assert));
    r.register(Arc::new(confirm::Confirm));
    r.register(Arc::new(file_append::FileAppend));
    r.register(Arc::new(kube_apply::KubeApply(kube.clone())));
    r.register(Arc::new(kube_delete::KubeDelete(kube.clone())));
    r.register(Arc::new(kube_get::KubeGet(kube.clone())));
    r.register(Arc::new(kube_scale::KubeScale(kube.clone())));
    r.register(Arc::new(kube_secret::KubeSecret(kube.clone())));
    r.register(Arc::new(kube_wait::KubeWait(kube.clone())));
    // The migration-resync kinds (issue 7).
    r.register(Arc::new(argo_app::ArgoApp(kube.clone())));
    r.register(Arc::new(argo_delete_hooks::ArgoDeleteHooks(kube.clone())));
    r.register(Arc::new(argo_failed_hooks::ArgoFailedHooks(kube.clone())));
    r.register(Arc::new(argo_sync::ArgoSync(kube.clone())));
    // The refresh kinds (issue 5).
    r.register(Arc::new(cnpg_cluster::CnpgCluster(kube.clone())));
    r.register(Arc::new(kube_annotate::KubeAnnotate(kube.clone())));
    r.register(Arc::new(kube_event::KubeEvent(kube.clone())));
    r.register(Arc::new(kube_scale_all::KubeScaleAll(kube.clone())));
    r.register(Arc::new(pg_exec::PgExec(kube.clone())));
    r.register(Arc::new(pg_terminate::PgTerminate(kube.clone())));
    r.register(Arc::new(pg_verify::PgVerify(kube.clone())));
    r.register(Arc::new(refresh_job::RefreshJob(kube.clone())));
    r.register(Arc::new(refresh_preflight::RefreshPreflight(kube.clone())));
    // The restore kinds (issue 6).
    r.register(Arc::new(argo_autosync::ArgoAutosync(kube.clone())));
    r.register(Arc::new(cnpg_backup::CnpgBackup(kube.clone())));
    r.register(Arc::new(cnpg_delete_cluster::CnpgDeleteCluster(
        kube.clone(),
    )));
    r.register(Arc::new(cnpg_verify_restore::CnpgVerifyRestore(
        kube.clone(),
    )));
    r.register(Arc::new(kube_rollout_restart::KubeRolloutRestart(
        kube.clone(),
    )));
    r.register(Arc::new(restore_plan::RestorePlan(kube)));
    r.register(Arc::new(log::Log));
    r.register(Arc::new(secret_env::SecretEnv));
    r.register(Arc::new(sleep::Sleep));
    r
}

#[cfg(test)]
pub(crate) mod testing {
    //! A context to run one step kind in a unit test.

    use std::sync::Arc;

    use serde_json::Value;
    use tokio_util::sync::CancellationToken;

    use crate::engine::checkpoint::{CheckpointHandle, FileStore, RunState};
    use crate::engine::events::StepEvents;
    use crate::engine::step::{Inputs, RunMode, StepContext};
    use crate::redact::Redactor;
    use crate::ui::Recording;

    /// A context whose events land in the returned recorder.
    pub fn context(
        inputs: Value,
        mode: RunMode,
        dir: &std::path::Path,
    ) -> (StepContext, Arc<Recording>) {
        let rec = Arc::new(Recording::default());
        let state: RunState = serde_json::from_value(serde_json::json!({
            "version": 1, "run_id": "20260101-000000-abcd",
            "runbook": {"name": "t", "origin": "builtin:t.yaml", "digest": "sha256:0"},
            "mode": "real", "params": {}, "status": "running", "message": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "steps": [{"id": "s", "uses": "x", "destructive": false, "status": "running", "attempts": 1,
                       "started_at": null, "finished_at": null, "error": null}]
        }))
        .expect("valid state");
        let store = Arc::new(FileStore::new(dir.to_path_buf()));
        let Value::Object(map) = inputs else {
            panic!("inputs must be a map")
        };
        let ctx = StepContext {
            step_id: "s".into(),
            inputs: Inputs(map),
            cancel: CancellationToken::new(),
            events: StepEvents::new("s", rec.clone()),
            redactor: Redactor::new(),
            mode,
            checkpoint: CheckpointHandle::new(state, store, Redactor::new()),
            attempt: 1,
            resumed: false,
        };
        (ctx, rec)
    }
}
