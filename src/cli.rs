//! Command-line types (clap derive) and nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::refresh::RefreshMode;
use crate::ui::Format;

/// The one parser of every duration flag: `90s`, `10m`, `1h 30m` (humantime).
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{e} (expected a duration like 30s, 10m or 1h)"))
}

/// Declarative operational runbooks for CloudNativePG clusters.
#[derive(Debug, Parser)]
#[command(name = "cnpgops", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args, Clone)]
pub(crate) struct GlobalArgs {
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
    #[arg(long, global = true, default_value = "10s", value_parser = duration, env = "CNPGOPS_PG_CONNECT_TIMEOUT")]
    pub pg_connect_timeout: Duration,
    /// `statement_timeout` of cnpgops's own PostgreSQL sessions (checks, verification, ANALYZE).
    #[arg(long, global = true, default_value = "30m", value_parser = duration, env = "CNPGOPS_PG_STATEMENT_TIMEOUT")]
    pub pg_statement_timeout: Duration,
    /// How long a run's lock outlives its last renewal (a killed run's lock frees after this).
    #[arg(long, global = true, default_value = "30s", value_parser = duration)]
    pub lock_ttl: Duration,
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
pub(crate) enum StateBackend {
    /// JSON files under $CNPGOPS_STATE_DIR or $XDG_STATE_HOME/cnpgops/runs.
    #[default]
    #[value(alias = "file")]
    Local,
    /// A ConfigMap per run (for CronJobs).
    Kubernetes,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
pub(crate) enum RunbooksCommand {
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
pub(crate) struct RunbookArgs {
    /// A runbook name (see `runbooks list`) or a YAML file.
    pub runbook: String,
    /// A parameter, repeatable: `-p target=app-dev`.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub runbook: RunbookArgs,
}

/// Flags that answer confirmations, and the cleanup's grace budget.
#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct ConfirmArgs {
    /// Confirm destructive steps without asking (for CronJobs).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Allow destructive steps on production targets.
    #[arg(long)]
    pub allow_prod: bool,
    /// After SIGINT/SIGTERM, how long the cleanup (`always`) steps may run before exit 5;
    /// keep it under the Pod's terminationGracePeriodSeconds.
    #[arg(long, default_value = "25s", value_parser = duration)]
    pub grace: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub runbook: RunbookArgs,
    /// Run reads for real; only describe (or server-side dry-run) every write.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
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
pub(crate) enum RunsCommand {
    /// List runs, oldest first.
    List,
    /// Show one run's state.
    Show { run_id: String },
}

/// `cnpgops refresh-dev APP`.
#[derive(Debug, Args)]
pub(crate) struct RefreshDevArgs {
    /// The application, as the naming profile knows it (e.g. `synestra-io`).
    pub app: String,
    /// The source environment.
    #[arg(long, default_value = "prod")]
    pub from: String,
    /// The target environment (never production).
    #[arg(long, default_value = "dev")]
    pub to: String,
    /// How the copy is verified against the snapshot that was dumped.
    #[arg(long, value_enum, default_value_t)]
    pub verify: Verify,
    /// How the dump replaces the target's contents.
    #[arg(long, value_enum, default_value_t)]
    pub mode: RefreshMode,
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
    /// Where the new contents come from.
    #[arg(long, value_enum, default_value_t)]
    pub method: RefreshMethod,
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
    #[arg(long, default_value = "25s", value_parser = duration)]
    pub grace: Duration,
}

/// `refresh-dev --verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Verify {
    /// Exact row counts of every table: dev's as the restore's transaction counted them (no
    /// second read; `parallel` mode counts them again), prod's on the dumped snapshot.
    #[default]
    Counts,
    /// Also a checksum of every table (reads every row on both sides).
    Checksums,
}

/// `refresh-dev --method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum RefreshMethod {
    /// A pg_dump/pg_restore Job into the existing dev cluster (`runbooks/refresh-dev.yaml`).
    #[default]
    Dump,
    /// Recreate the dev cluster from prod's object store (`runbooks/refresh-dev-recovery.yaml`).
    Recovery,
}

/// `migrations resync --prune`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Prune {
    /// Prune except in production.
    #[default]
    Auto,
    /// Always prune.
    True,
    /// Never prune.
    False,
}

/// The name a value-enum flag's value is written as (`parallel`, `checksums`): what runbook
/// parameters receive.
pub(crate) fn value_name(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// `cnpgops restore APP --env ENV`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["target_time", "target_lsn", "backup_id", "latest"])))]
pub(crate) struct RestoreArgs {
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
    #[arg(long, conflicts_with = "to_cluster")]
    pub skip_safety_backup: bool,
    /// How long the safety backup and the recovery may each take.
    #[arg(long, default_value = "30m", value_parser = duration)]
    pub timeout: Duration,
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
pub(crate) enum MigrationsCommand {
    /// Delete the failed migration hook Jobs and sync the Application (`migration-resync`).
    Resync(MigrationsResyncArgs),
    /// Show the Application's sync, health, last operation and its hook Jobs.
    Status(MigrationsTarget),
}

/// Which app and environment.
#[derive(Debug, Args)]
pub(crate) struct MigrationsTarget {
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
pub(crate) struct MigrationsResyncArgs {
    #[command(flatten)]
    pub target: MigrationsTarget,
    /// How long the sync may take until Synced and Healthy.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub timeout: Duration,
    /// Prune resources no longer in Git.
    #[arg(long, value_enum, default_value_t)]
    pub prune: Prune,
    /// Reads for real; the deletes and the sync are sent as server-side dry runs.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

/// `cnpgops backups APP`.
#[derive(Debug, Args)]
pub(crate) struct BackupsArgs {
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
pub(crate) struct BackupArgs {
    /// The application, as the naming profile knows it (e.g. `synestra-io`).
    pub app: String,
    /// The environment whose cluster is backed up.
    #[arg(long, default_value = "prod")]
    pub env: String,
    /// Wait until the backup is completed (exit 4 if it fails).
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits.
    #[arg(long, default_value = "30m", value_parser = duration)]
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    fn parse(line: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cnpgops").chain(line.iter().copied()))
    }

    #[test]
    fn every_duration_flag_parses_with_the_one_parser() {
        let cli = parse(&[
            "--lock-ttl",
            "1m",
            "restore",
            "a",
            "--env",
            "prod",
            "--latest",
            "--timeout",
            "1h 30m",
        ])
        .unwrap();
        assert_eq!(cli.global.lock_ttl, Duration::from_secs(60));
        let Command::Restore(restore) = cli.command else {
            panic!("not restore")
        };
        assert_eq!(restore.timeout, Duration::from_secs(5400));
        let resync = parse(&["migrations", "resync", "a", "--timeout", "forever"]).unwrap_err();
        assert_eq!(resync.kind(), ErrorKind::ValueValidation);
        assert!(
            resync.to_string().contains("expected a duration like 30s"),
            "{resync}"
        );
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn enum_flags_list_their_values_and_default() {
        let err = parse(&["refresh-dev", "a", "--mode", "fast"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
        assert!(
            err.to_string()
                .contains("possible values: atomic, stream, parallel"),
            "{err}"
        );
        let err = parse(&["refresh-dev", "a", "--method", "snapshot"]).unwrap_err();
        assert!(
            err.to_string().contains("possible values: dump, recovery"),
            "{err}"
        );
        let Command::Migrations(MigrationsCommand::Resync(resync)) =
            parse(&["migrations", "resync", "a"]).unwrap().command
        else {
            panic!("not migrations resync")
        };
        assert_eq!(
            (resync.prune, value_name(&resync.prune)),
            (Prune::Auto, "auto".to_string())
        );
        assert_eq!(value_name(&Prune::False), "false");
        assert_eq!(value_name(&Verify::Checksums), "checksums");
    }

    #[test]
    fn relations_between_flags_are_usage_errors() {
        let both = parse(&[
            "restore",
            "a",
            "--env",
            "prod",
            "--latest",
            "--to-cluster",
            "b",
            "--skip-safety-backup",
        ]);
        assert_eq!(both.unwrap_err().kind(), ErrorKind::ArgumentConflict);
        let two_targets = parse(&[
            "restore",
            "a",
            "--env",
            "prod",
            "--latest",
            "--backup-id",
            "x",
        ]);
        assert_eq!(two_targets.unwrap_err().kind(), ErrorKind::ArgumentConflict);
        let quiet_verbose = parse(&["-q", "-v", "version"]);
        assert_eq!(
            quiet_verbose.unwrap_err().kind(),
            ErrorKind::ArgumentConflict
        );
        assert!(parse(&[
            "restore",
            "a",
            "--env",
            "prod",
            "--latest",
            "--skip-safety-backup"
        ])
        .is_ok());
    }
}
