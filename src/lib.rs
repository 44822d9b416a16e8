//! cnpgops: declarative operational runbooks for CloudNativePG clusters.
//!
//! # Map
//!
//! [`entry::main_entry`] is the whole program: a command line is parsed once ([`cli`]; as
//! `cnpgops` or the kubectl plugin `kubectl-cnpgops`, [`invocation`]), dispatched to one
//! function per command ([`commands`]), and its result mapped to a documented exit code and
//! printed by one function ([`error`]).
//!
//! - [`runbook`]: runbooks as data. YAML parsed with positions (serde-saphyr), typed params,
//!   minijinja templates, validation; every problem names `file:line:col`.
//! - [`engine`]: plan, then execute: retries, timeouts, `when`, `always`, confirmation of
//!   destructive steps, checkpoints after every transition, resume, the run lock (a runbook's
//!   `lock:` target, through the [`engine::Locker`] trait). No Kubernetes here.
//! - [`steps`]: step kinds, one file per `uses:` value, all listed in [`steps::registry_with`].
//! - [`k8s`]: the client (`--kubeconfig`, `--context`, in-cluster), the one place naming CNPG /
//!   barman / Argo CD kinds, named wait conditions ([`k8s::conditions`]) and the one wait
//!   helper driving them with a watcher ([`k8s::wait`]), code a command and a step share (the
//!   CNPG Backup, [`k8s::backup_object`]), the ConfigMap run-state store
//!   (`--state kubernetes`) and the Lease [`engine::Locker`]. Its tests include the
//!   mock-apiserver tier (`k8s/mock_tests/`: scripted request/response exchanges).
//! - [`ui`]: reporters (plain lines, JSON lines, progress bars, the `-q` filter) the engine
//!   pushes events into.
//! - [`backup_catalog`]: the barman-cloud object-store catalog (aws-sdk-s3): backups, WAL
//!   extent per timeline, recoverability window.
//! - [`profile`]: naming profiles (app + env -> clusters, namespaces, secrets; seed 000 by
//!   default, others from `--config`), templates' `profile.*`, and the prod guard.
//! - [`pg`]: tokio-postgres from cnpgops itself (port-forward or in-cluster, TLS from the
//!   cluster's CA): inventories and comparisons that verify a refresh, progress views.
//! - [`refresh`]: the dev <- prod refresh's Job (manifest, script) and its log's progress.
//! - [`restore`]: recovery from the object store: the recovery Cluster, targets, Argo CD owner.
//! - [`redact`]: secret types and the redactor every sink passes through.
//! - [`notify`]: `--notify URL`, one redacted Slack-compatible webhook message per run.
//! - [`logging`]: tracing diagnostics (`-v`, `-q`, `RUST_LOG`, `--log-format text|json`),
//!   redacted too. Colour follows `--no-color`, `$NO_COLOR` and whether stderr is a terminal.
//!
//! Only [`entry`], [`redact`] (its secret types are a contract, proven unprintable by a
//! doctest) and [`support`] (what the integration tests drive directly) are public; the rest is
//! private to the crate (`cargo doc --document-private-items` shows it). `missing_docs` and
//! `unreachable_pub` keep it that way (`[workspace.lints]` in `Cargo.toml`).

// This map links to the private modules it describes; read it with
// `cargo doc --document-private-items`, where every link resolves.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod backup_catalog;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod engine;
pub mod entry;
pub(crate) mod error;
pub(crate) mod invocation;
pub(crate) mod k8s;
pub(crate) mod logging;
pub(crate) mod notify;
pub(crate) mod pg;
pub(crate) mod profile;
pub mod redact;
pub(crate) mod refresh;
pub(crate) mod restore;
pub(crate) mod runbook;
pub(crate) mod steps;
pub(crate) mod ui;

/// What the integration tests (`tests/it`) use directly besides the binary: the run-state
/// types and stores, the Kubernetes connection and kind table, and marker strings the binary
/// prints or reads. Everything else in the crate is private to it.
pub mod support {
    pub use crate::engine::checkpoint::{RunState, StateStore, StoreError};
    pub use crate::engine::crash_point::ENV as CRASH_POINT_ENV;
    pub use crate::k8s::client::{Connector, KubeOptions};
    pub use crate::k8s::state_store::ConfigMapStore;
    pub use crate::k8s::{resources, RUN_ID_LABEL};
    pub use crate::refresh::job_manifest::RESTORE_START;
}
