//! Command-line types (clap derive) and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ui::Format;

/// Declarative operational runbooks for CloudNativePG clusters.
#[derive(Debug, Parser)]
#[command(name = "cnpgops", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace for Kubernetes steps that name none (default: the context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t)]
    pub output: Format,
    /// Extra directories of runbooks (they win over embedded ones of the same name).
    #[arg(long, global = true)]
    pub runbooks_dir: Vec<PathBuf>,
    /// Where run state (checkpoints) is kept.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub state: StateBackend,
    /// Namespace of the run-state ConfigMaps with `--state kubernetes` (default: the context's).
    #[arg(long, global = true)]
    pub state_namespace: Option<String>,
    /// How long reaching a PostgreSQL server (TCP or port-forward, and the startup) may take.
    #[arg(long, global = true, default_value = "10s", value_parser = humantime::parse_duration, env = "CNPGOPS_PG_CONNECT_TIMEOUT")]
    pub pg_connect_timeout: std::time::Duration,
    /// `statement_timeout` of cnpgops's own PostgreSQL sessions (checks, verification, ANALYZE).
    #[arg(long, global = true, default_value = "30m", value_parser = humantime::parse_duration, env = "CNPGOPS_PG_STATEMENT_TIMEOUT")]
    pub pg_statement_timeout: std::time::Duration,
    /// How long a run's lock outlives its last renewal (a killed run's lock frees after this).
    #[arg(long, global = true, default_value = "30s", value_parser = humantime::parse_duration)]
    pub lock_ttl: std::time::Duration,
    /// Config file with naming profiles (default: $XDG_CONFIG_HOME/cnpgops/config.yaml).
    #[arg(long, global = true, env = "CNPGOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Naming profile from the config file (default: its `profile:`, else `default`, seed 000's).
    #[arg(long, global = true, env = "CNPGOPS_PROFILE")]
    pub profile: Option<String>,
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors and the final report.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No colours on the terminal (also when $NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Format of the diagnostics on stderr (`json`: one JSON object per line).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,
    /// Webhook (Slack-compatible `{"text": ...}`) told once how a run ended; a secret: prefer
    /// $CNPGOPS_NOTIFY_URL from a Secret over the flag.
    #[arg(
        long,
        global = true,
        env = "CNPGOPS_NOTIFY_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub notify: Option<crate::notify::WebhookUrl>,
}

/// `--state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum StateBackend {
    /// JSON files under $CNPGOPS_STATE_DIR or $XDG_STATE_HOME/cnpgops/runs.
    #[default]
    #[value(alias = "file")]
    Local,
    /// A ConfigMap per run (for CronJobs).
    Kubernetes,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version.
    Version,
    /// List, show and validate runbooks.
    #[command(subcommand)]
    Runbooks(RunbooksCommand),
    /// Render a runbook's steps with parameters; contacts nothing.
    Plan(PlanArgs),
    /// Run a runbook (a known name or a file).
    Run(RunArgs),
    /// Continue an interrupted or failed run at its first unfinished step.
    Resume(ResumeArgs),
    /// List and inspect runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Refresh an app's dev database from prod (the `refresh-dev` runbook), verified row for row.
    RefreshDev(RefreshDevArgs),
    /// An app's backups, WAL archive and recoverability window, read from the object store,
    /// beside CNPG's own view and where the two disagree.
    Backups(BackupsArgs),
    /// Take an on-demand backup (a CNPG `Backup`, method matching the cluster's store).
    Backup(BackupArgs),
    /// Restore an app's cluster from its object store (the `restore` runbook): a point in time,
    /// a backup or the latest WAL, in place or into a new cluster.
    Restore(RestoreArgs),
    /// Failed migration hook Jobs: delete them and sync the Argo CD Application again, or show them.
    #[command(subcommand)]
    Migrations(MigrationsCommand),
    /// Print a shell completion script: `cnpgops completions bash > /etc/bash_completion.d/cnpgops`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunbooksCommand {
    /// List known runbooks.
    List,
    /// Show a runbook's parameters and steps.
    Show { name: String },
    /// Check runbook files without touching a cluster.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// A runbook and its parameters.
#[derive(Debug, Args)]
pub struct RunbookArgs {
    /// A runbook name (see `runbooks list`) or a YAML file.
    pub runbook: String,
    /// A parameter, repeatable: `-p target=app-dev`.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub runbook: RunbookArgs,
}

/// Flags that answer confirmations, and the cleanup's grace budget.
#[derive(Debug, Args, Clone, Copy)]
pub struct ConfirmArgs {
    /// Confirm destructive steps without asking (for CronJobs).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Allow destructive steps on production targets.
    #[arg(long)]
    pub allow_prod: bool,
    /// After SIGINT/SIGTERM, how long the cleanup (`always`) steps may run before exit 5;
    /// keep it under the Pod's terminationGracePeriodSeconds.
    #[arg(long, default_value = "25s", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub runbook: RunbookArgs,
    /// Run reads for real; only describe (or server-side dry-run) every write.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    pub run_id: String,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// After checking by hand: record this destructive step as done.
    #[arg(long, value_name = "STEP")]
    pub mark_done: Vec<String>,
    /// After checking by hand: run this destructive step again.
    #[arg(long, value_name = "STEP")]
    pub rerun: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, oldest first.
    List,
    /// Show one run's state.
    Show { run_id: String },
}

/// `cnpgops refresh-dev APP`.
#[derive(Debug, Args)]
pub struct RefreshDevArgs {
    /// The application, as the naming profile knows it (e.g. `synestra-io`).
    pub app: String,
    /// The source environment.
    #[arg(long, default_value = "prod")]
    pub from: String,
    /// The target environment (never production).
    #[arg(long, default_value = "dev")]
    pub to: String,
    /// `counts` (exact row counts) or `checksums` (also a checksum of every table).
    #[arg(long, default_value = "counts", value_parser = ["counts", "checksums"])]
    pub verify: String,
    /// `atomic` (dump to a file, then clean + restore in one transaction: a failure changes
    /// nothing), `stream` (the dump piped into that transaction: as safe, faster) or
    /// `parallel` (pg_restore -j after a separate clean: not atomic).
    #[arg(long, default_value = "atomic", value_parser = ["atomic", "stream", "parallel"])]
    pub mode: String,
    /// Parallel pg_dump jobs (and pg_restore jobs with `--mode parallel`).
    #[arg(long, default_value_t = 2)]
    pub jobs: u32,
    /// The Job's image (default: the source Cluster's, so pg_dump matches its major).
    #[arg(long)]
    pub image: Option<String>,
    /// The Job container's CPU request and limit (default: request 250m, limit 2).
    #[arg(long, value_name = "QUANTITY")]
    pub job_cpu: Option<String>,
    /// The Job container's memory request and limit (default: request 256Mi, limit 1Gi).
    #[arg(long, value_name = "QUANTITY")]
    pub job_memory: Option<String>,
    /// The StorageClass of the Job's dump volume (a generic ephemeral volume sized from the
    /// source database; default: the profile's `dump_storage_class`, else the cluster's
    /// default StorageClass).
    #[arg(long, value_name = "NAME")]
    pub dump_storage_class: Option<String>,
    /// For clusters without TLS: let the Job connect without verifying the servers
    /// (`sslmode=prefer`). Without it, a cluster with no CA Secret is refused (exit 3).
    #[arg(long, env = "CNPGOPS_INSECURE_NO_TLS", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure_no_tls: bool,
    /// `dump` (pg_dump/pg_restore Job into the existing dev cluster) or `recovery` (recreate
    /// the dev cluster from prod's object store, `runbooks/refresh-dev-recovery.yaml`).
    #[arg(long, default_value = "dump", value_parser = ["dump", "recovery"])]
    pub method: String,
    /// With `--method recovery`: recover to this time (explicit offset) instead of the latest WAL.
    #[arg(long)]
    pub target_time: Option<String>,
    /// With `--method recovery`: re-enable the Argo CD automated sync recorded before the run even though the Cluster
    /// was recreated and no longer matches Git (default: it stays paused, exit 3, with what to
    /// commit).
    #[arg(long)]
    pub resume_autosync: bool,
    /// Reads for real, every write as a server-side dry run; no Pod, no SQL write.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm without asking (for CronJobs). A production target is refused even so.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// After SIGINT/SIGTERM, how long scaling the app back (and the other cleanup) may take
    /// before exit 5; keep it under the Pod's terminationGracePeriodSeconds.
    #[arg(long, default_value = "25s", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
}

/// `cnpgops restore APP --env ENV`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["target_time", "target_lsn", "backup_id", "latest"])))]
pub struct RestoreArgs {
    /// The application, as the naming profile knows it (e.g. `synestra-io`).
    pub app: String,
    /// The environment whose cluster is restored.
    #[arg(long)]
    pub env: String,
    /// Recover to this time: RFC 3339 with an explicit offset (`2026-11-24T01:30:00Z`).
    #[arg(long)]
    pub target_time: Option<String>,
    /// Recover to this LSN (`0/3000060`).
    #[arg(long)]
    pub target_lsn: Option<String>,
    /// Restore this backup (barman ID or name) as it ended.
    #[arg(long)]
    pub backup_id: Option<String>,
    /// Replay every archived WAL.
    #[arg(long)]
    pub latest: bool,
    /// Restore into a new Cluster of this name (the source is left as it is).
    #[arg(long, value_name = "NAME", conflicts_with = "in_place")]
    pub to_cluster: Option<String>,
    /// Replace the Cluster itself (the default): safety backup, confirmation, delete, recover.
    #[arg(long)]
    pub in_place: bool,
    /// In place: take no safety backup first (the report says so).
    #[arg(long)]
    pub skip_safety_backup: bool,
    /// How long the safety backup and the recovery may each take.
    #[arg(long, default_value = "30m")]
    pub timeout: String,
    /// Reads for real (the target checked, the manifest validated); every write a dry run.
    #[arg(long)]
    pub dry_run: bool,
    /// Re-enable the Argo CD automated sync recorded before the run even though the Cluster
    /// was recreated and no longer matches Git (default: it stays paused, exit 3, with what to
    /// commit).
    #[arg(long)]
    pub resume_autosync: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

/// `cnpgops migrations ...`.
#[derive(Debug, Subcommand)]
pub enum MigrationsCommand {
    /// Delete the failed migration hook Jobs and sync the Application (`migration-resync`).
    Resync(MigrationsResyncArgs),
    /// Show the Application's sync, health, last operation and its hook Jobs.
    Status(MigrationsTarget),
}

/// Which app and environment.
#[derive(Debug, Args)]
pub struct MigrationsTarget {
    /// The application, as the naming profile knows it (e.g. `synestra-io`).
    pub app: String,
    /// The environment.
    #[arg(long, default_value = "dev")]
    pub env: String,
    /// Label selector of migration Jobs that are not Argo CD hooks ("" for hooks only).
    #[arg(long, default_value = "app.kubernetes.io/component=migrations")]
    pub selector: String,
}

/// `cnpgops migrations resync APP`.
#[derive(Debug, Args)]
pub struct MigrationsResyncArgs {
    #[command(flatten)]
    pub target: MigrationsTarget,
    /// How long the sync may take until Synced and Healthy.
    #[arg(long, default_value = "10m")]
    pub timeout: String,
    /// Prune resources no longer in Git: `auto` (the default) prunes except in production.
    #[arg(long, default_value = "auto", value_parser = ["auto", "true", "false"])]
    pub prune: String,
    /// Reads for real; the deletes and the sync are sent as server-side dry runs.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

/// `cnpgops backups APP`.
#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// The application, as the naming profile knows it (e.g. `synestra-io`).
    pub app: String,
    /// The environment whose cluster is read.
    #[arg(long, default_value = "prod")]
    pub env: String,
    /// Read every `backup.info` from S3 (not from the local cache of unchanged ones).
    #[arg(long)]
    pub no_cache: bool,
}

/// `cnpgops backup APP`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The application, as the naming profile knows it (e.g. `synestra-io`).
    pub app: String,
    /// The environment whose cluster is backed up.
    #[arg(long, default_value = "prod")]
    pub env: String,
    /// Wait until the backup is completed (exit 4 if it fails).
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}
