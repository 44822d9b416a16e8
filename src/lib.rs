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
//!   barman / Argo CD kinds, named wait conditions, the ConfigMap run-state store
//!   (`--state kubernetes`) and the Lease [`engine::Locker`].
//! - [`ui`]: reporters (plain lines, JSON lines, progress bars, the `-q` filter) the engine
//!   pushes events into.
//! - [`backup_catalog`]: the barman-cloud object-store catalog (aws-sdk-s3): backups, WAL extent per
//!   timeline, recoverability window.
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

pub mod backup_catalog;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod entry;
pub mod error;
pub mod invocation;
pub mod k8s;
pub mod logging;
pub mod notify;
pub mod pg;
pub mod profile;
pub mod redact;
pub mod refresh;
pub mod restore;
pub mod runbook;
pub mod steps;
pub mod ui;
