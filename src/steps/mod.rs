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
mod refresh_estimate;
mod refresh_job;
mod refresh_preflight;
mod restore_plan;
mod secret_env;
mod sleep;

use std::sync::Arc;

pub(crate) use crate::engine::step::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};
use crate::engine::Registry;
use crate::k8s::Connector;

/// One entry of [`KINDS`]: how to build a step kind and, for the registry's tests, its module
/// and type as spelled in the source (so they can be checked against the `uses:` name).
struct Kind {
    /// The file under `src/steps/`: the `uses:` name with `.` as `_` (`refresh_job`).
    #[cfg(test)]
    module: &'static str,
    /// The type: the `uses:` name in CamelCase (`RefreshJob`).
    #[cfg(test)]
    type_name: &'static str,
    /// Builds the kind; Kubernetes kinds keep the connector and connect on first use.
    build: fn(&Connector) -> Arc<dyn Step>,
}

/// A [`Kind`] entry: `kind!(module::Type)` for kinds that need nothing,
/// `kind!(module::Type(kube))` for kinds that reach Kubernetes (or PostgreSQL through it).
macro_rules! kind {
    ($module:ident :: $ty:ident) => {
        Kind {
            #[cfg(test)]
            module: stringify!($module),
            #[cfg(test)]
            type_name: stringify!($ty),
            build: |_| Arc::new($module::$ty),
        }
    };
    ($module:ident :: $ty:ident (kube)) => {
        Kind {
            #[cfg(test)]
            module: stringify!($module),
            #[cfg(test)]
            type_name: stringify!($ty),
            build: |kube| Arc::new($module::$ty(kube.clone())),
        }
    };
}

/// Every step kind cnpgops knows, alphabetical by `uses:` name. Adding a kind: write
/// `src/steps/<name>.rs` and add one line here; `registry_tests` checks it.
const KINDS: &[Kind] = &[
    kind!(argo_app::ArgoApp(kube)),
    kind!(argo_autosync::ArgoAutosync(kube)),
    kind!(argo_delete_hooks::ArgoDeleteHooks(kube)),
    kind!(argo_failed_hooks::ArgoFailedHooks(kube)),
    kind!(argo_sync::ArgoSync(kube)),
    kind!(assert::Assert),
    kind!(cnpg_backup::CnpgBackup(kube)),
    kind!(cnpg_cluster::CnpgCluster(kube)),
    kind!(cnpg_delete_cluster::CnpgDeleteCluster(kube)),
    kind!(cnpg_verify_restore::CnpgVerifyRestore(kube)),
    kind!(confirm::Confirm),
    kind!(file_append::FileAppend),
    kind!(kube_annotate::KubeAnnotate(kube)),
    kind!(kube_apply::KubeApply(kube)),
    kind!(kube_delete::KubeDelete(kube)),
    kind!(kube_event::KubeEvent(kube)),
    kind!(kube_get::KubeGet(kube)),
    kind!(kube_rollout_restart::KubeRolloutRestart(kube)),
    kind!(kube_scale::KubeScale(kube)),
    kind!(kube_scale_all::KubeScaleAll(kube)),
    kind!(kube_secret::KubeSecret(kube)),
    kind!(kube_wait::KubeWait(kube)),
    kind!(log::Log),
    kind!(pg_exec::PgExec(kube)),
    kind!(pg_terminate::PgTerminate(kube)),
    kind!(pg_verify::PgVerify(kube)),
    kind!(refresh_estimate::RefreshEstimate),
    kind!(refresh_job::RefreshJob(kube)),
    kind!(refresh_preflight::RefreshPreflight(kube)),
    kind!(restore_plan::RestorePlan(kube)),
    kind!(secret_env::SecretEnv),
    kind!(sleep::Sleep),
];

/// Every step kind, with Kubernetes kinds connecting from the environment's defaults (for
/// tests; commands use [`registry_with`]).
#[cfg(test)]
pub(crate) fn registry() -> Registry {
    registry_with(Connector::default())
}

/// Every step kind of [`KINDS`]; Kubernetes kinds connect through `kube` on first use.
pub(crate) fn registry_with(kube: Connector) -> Registry {
    let mut registry = Registry::default();
    for kind in KINDS {
        registry.register((kind.build)(&kube));
    }
    registry
}

#[cfg(test)]
mod registry_tests;

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

    /// Rendered inputs from a JSON object, as a kind's `plan` receives them.
    pub(crate) fn inputs(value: Value) -> Inputs {
        let Value::Object(map) = value else {
            panic!("inputs must be a map")
        };
        Inputs(map)
    }

    /// A `connection` input (a `pg::connect::Target`): database `app` of Cluster
    /// `databases/<cluster>`, its first Pod, and its app Secret.
    pub(crate) fn connection(cluster: &str) -> Value {
        serde_json::json!({"namespace": "databases", "cluster": cluster,
            "pod": format!("{cluster}-1"), "database": "app", "secret": format!("{cluster}-app")})
    }

    /// A context whose events land in the returned recorder.
    pub(crate) fn context(
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
        };
        (ctx, rec)
    }
}
