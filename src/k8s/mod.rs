//! Kubernetes: the client, the one place naming CNPG / barman / Argo CD types, conditions, and
//! the Kubernetes-backed engine services (ConfigMap run state, Lease lock).
//!
//! - [`client`]: `--kubeconfig` / `--context` / in-cluster config, connected once on first use.
//! - [`resources`]: `apiVersion` + `kind` -> [`kube::core::ApiResource`] (CNPG, barman, Argo CD
//!   and core kinds listed, anything else found by discovery).
//! - [`conditions`]: named wait conditions (`cluster_healthy`, `job_complete`, ...), and
//!   [`wait`], the one helper that waits for them with a watcher (re-listing on 410 / 5xx,
//!   failing fast when a condition says it never will hold).
//! - [`job`]: running a Job to its end (its log followed, why its Pod cannot start).
//! - [`backup_object`]: the CNPG `Backup` object (manifest, wait until completed).
//! - [`cluster_access`]: what a Pod connecting to a CNPG Cluster needs (server CA, pull secrets).
//! - [`state_store`]: [`crate::engine::StateStore`] in one ConfigMap per run, its large step
//!   results in ConfigMaps of their own ([`state_artifacts`]).
//! - [`argo`], [`hook_jobs`]: Argo CD Applications (sync / health / operation) and the
//!   migration hook Jobs of an app namespace.
//! - [`lease`]: [`crate::engine::Locker`] with a `coordination.k8s.io/v1` Lease per target.
//! - [`volume_probe`]: the free space of an instance's data volume (a read-only probe Job).
//! - [`params`]: write parameters that honour `--dry-run` (`dryRun=All`).
//!
//! kube-rs installs the aws-lc-rs rustls crypto provider itself when it builds a TLS client,
//! so nothing here has to.

pub(crate) mod argo;
pub(crate) mod backup_object;
pub(crate) mod client;
pub(crate) mod cluster_access;
pub(crate) mod conditions;
pub(crate) mod error;
pub(crate) mod hook_jobs;
pub(crate) mod job;
pub(crate) mod lease;
pub(crate) mod object;
pub(crate) mod params;
pub mod resources;
pub(crate) mod state_artifacts;
pub(crate) mod state_store;
pub(crate) mod volume_probe;
pub(crate) mod wait;

#[cfg(test)]
mod mock_tests;

pub(crate) use client::{Connector, Kube, KubeOptions};
pub(crate) use error::{K8sError, ObjectRef};

/// `app.kubernetes.io/managed-by` on every object cnpgops owns.
pub(crate) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "cnpgops");
/// The run that created an object.
pub const RUN_ID_LABEL: &str = "cnpgops.io/run-id";
/// The step (id) that created an object.
pub(crate) const STEP_LABEL: &str = "cnpgops.io/step";
/// The runbook a run-state ConfigMap belongs to.
pub(crate) const RUNBOOK_LABEL: &str = "cnpgops.io/runbook";
/// The field manager of every server-side apply.
pub(crate) const FIELD_MANAGER: &str = "cnpgops";
