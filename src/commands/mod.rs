//! One function per command; this module holds the dispatch and what commands share.

pub(crate) mod backup;
mod backups;
mod completions;
mod migrations;
mod plan;
mod refresh_dev;
mod restore;
mod resume;
mod run;
mod runbooks;
mod runs;
mod version;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, ConfirmArgs, GlobalArgs, RunbookArgs, StateBackend};
use crate::engine::confirm::TerminalConfirmer;
use crate::engine::{Engine, EngineParts, FileStore, Policy, Registry, StateStore};
use crate::error::Error;
use crate::k8s::lease::LeaseLocker;
use crate::k8s::state_store::ConfigMapStore;
use crate::k8s::{Connector, KubeOptions};
use crate::redact::Redactor;
use crate::runbook::known::KnownRunbooks;
use crate::runbook::{params, Loaded, ParamValues};

/// Runs the parsed command.
pub(crate) async fn dispatch(cli: Cli, redactor: Redactor) -> Result<(), Error> {
    let notify = notified_as(&cli.command);
    crate::pg::settings::set(crate::pg::settings::Limits {
        connect_timeout: cli.global.pg_connect_timeout,
        statement_timeout: cli.global.pg_statement_timeout,
        ..Default::default()
    });
    let ctx = Context::new(cli.global, redactor);
    let result = match cli.command {
        Command::Version => version::run(&ctx),
        Command::Runbooks(cmd) => runbooks::run(&ctx, cmd),
        Command::Plan(args) => plan::run(&ctx, args),
        Command::Run(args) => run::run(&ctx, args).await,
        Command::Resume(args) => resume::run(&ctx, args).await,
        Command::Runs(cmd) => runs::run(&ctx, cmd).await,
        Command::RefreshDev(args) => refresh_dev::run(&ctx, args).await,
        Command::Backups(args) => backups::run(&ctx, args).await,
        Command::Backup(args) => backup::run(&ctx, args).await,
        Command::Restore(args) => restore::run(&ctx, args).await,
        Command::Migrations(cmd) => migrations::run(&ctx, cmd).await,
        Command::Completions { shell } => completions::run(&ctx, shell),
    };
    if let Some(command) = notify {
        ctx.notify(command, &result).await;
    }
    result
}

/// The commands that run a runbook, named as `--notify` messages say them.
fn notified_as(command: &Command) -> Option<&'static str> {
    match command {
        Command::Run(_) => Some("run"),
        Command::Resume(_) => Some("resume"),
        Command::RefreshDev(_) => Some("refresh-dev"),
        Command::Restore(_) => Some("restore"),
        Command::Migrations(crate::cli::MigrationsCommand::Resync(_)) => Some("migrations resync"),
        _ => None,
    }
}

/// What every command may need.
pub(crate) struct Context {
    pub global: GlobalArgs,
    pub runbooks: KnownRunbooks,
    pub registry: Arc<Registry>,
    pub redactor: Redactor,
    /// Connects to Kubernetes on first use only.
    pub kube: Connector,
    /// The report of the run this command ended, for `--notify`.
    last_report: std::sync::Mutex<Option<crate::engine::Report>>,
}

impl Context {
    fn new(global: GlobalArgs, redactor: Redactor) -> Self {
        let runbooks = KnownRunbooks::new(global.runbooks_dir.clone());
        if let Some(url) = &global.notify {
            url.teach(&redactor);
        }
        let kube = Connector::new(KubeOptions {
            kubeconfig: global.kubeconfig.clone(),
            context: global.context.clone(),
            namespace: global.namespace.clone(),
        });
        Self {
            registry: Arc::new(crate::steps::registry_with(kube.clone())),
            global,
            runbooks,
            redactor,
            kube,
            last_report: std::sync::Mutex::default(),
        }
    }

    /// With `--notify`, posts how the command's run ended (one message; a failure to deliver
    /// it is a warning, not the command's outcome).
    async fn notify(&self, command: &str, result: &Result<(), Error>) {
        let Some(url) = &self.global.notify else {
            return;
        };
        let report = self.last_report.lock().ok().and_then(|r| r.clone());
        let error = result.as_ref().err().map(|e| crate::error::chain(e));
        let text = crate::notify::message(command, report.as_ref(), error.as_deref());
        if let Err(e) = crate::notify::send(url, &text, &self.redactor).await {
            let chain = crate::error::chain(&e);
            eprintln!("warning: {}", self.redactor.redact(&chain));
        }
    }

    /// Loads and validates a runbook by name or path.
    pub(crate) fn load(&self, name_or_path: &str) -> Result<Loaded, Error> {
        let source = self.runbooks.resolve(name_or_path)?;
        Ok(crate::runbook::load(source, self.registry.as_ref())?)
    }

    /// Loads a runbook and converts its `-p` parameters.
    pub(crate) fn load_with_params(
        &self,
        args: &RunbookArgs,
    ) -> Result<(Loaded, ParamValues), Error> {
        let given = params::parse_pairs(&args.params).map_err(Error::Usage)?;
        self.load_given(&args.runbook, &given)
    }

    /// Loads a runbook and converts the parameters a command gives it.
    pub(crate) fn load_given(
        &self,
        name_or_path: &str,
        given: &BTreeMap<String, String>,
    ) -> Result<(Loaded, ParamValues), Error> {
        let loaded = self.load(name_or_path)?;
        let rb = &loaded.runbook;
        let values = params::resolve(&loaded.source.display, &rb.params, rb.name_pos, given)?;
        Ok((loaded, values))
    }

    /// The naming profile chosen by `--config` / `--profile`, with its name.
    pub(crate) fn naming_profile(&self) -> Result<(String, crate::profile::Profile), Error> {
        crate::profile::load(
            self.global.config.as_deref(),
            self.global.profile.as_deref(),
        )
        .map_err(|e| Error::Usage(crate::error::chain(&e)))
    }

    /// The run state store chosen by `--state`.
    pub(crate) fn store(&self) -> Result<Arc<dyn StateStore>, Error> {
        match self.global.state {
            StateBackend::Local => Ok(Arc::new(FileStore::new(FileStore::default_dir()))),
            StateBackend::Kubernetes => Ok(Arc::new(ConfigMapStore::new(
                self.kube.clone(),
                self.global.state_namespace.clone(),
            ))),
        }
    }

    /// The naming profile's names for a run's parameters (`app`, `from`, `to`), as templates
    /// read them (`profile.*`); empty when the runbook has no `app` parameter.
    pub(crate) fn profile_scope(
        &self,
        params: &crate::runbook::ParamValues,
    ) -> Result<BTreeMap<String, serde_json::Value>, Error> {
        let text = |k: &str| params.get(k).and_then(|v| v.as_str()).map(String::from);
        let Some(app) = text("app") else {
            return Ok(BTreeMap::new());
        };
        let (name, profile) = crate::profile::load(
            self.global.config.as_deref(),
            self.global.profile.as_deref(),
        )
        .map_err(|e| Error::Usage(crate::error::chain(&e)))?;
        let from = text("from").unwrap_or_else(|| profile.prod_env.clone());
        let to = text("to").or(text("env")).unwrap_or_else(|| "dev".into());
        Ok(crate::profile::Resolved::new(&name, &profile, &app, &from, &to).scope())
    }

    /// An engine whose templates see `profile` as `profile.*`.
    pub(crate) fn engine_with(
        &self,
        confirm: ConfirmArgs,
        cancel: CancellationToken,
        profile: BTreeMap<String, serde_json::Value>,
    ) -> Result<Engine, Error> {
        Ok(Engine::new(EngineParts {
            registry: self.registry.clone(),
            reporter: crate::ui::reporter_for(self.global.output, self.global.quiet),
            redactor: self.redactor.clone(),
            store: self.store()?,
            confirmer: Arc::new(TerminalConfirmer),
            policy: Policy {
                yes: confirm.yes,
                allow_prod: confirm.allow_prod,
            },
            cancel,
            profile,
            locker: Some(Arc::new(LeaseLocker::new(
                self.kube.clone(),
                self.global.lock_ttl,
            ))),
        })
        .with_grace(confirm.grace))
    }

    /// Writes text to stdout through the redactor.
    pub(crate) fn print(&self, text: &str) {
        let _ = std::io::stdout()
            .lock()
            .write_all(self.redactor.redact(text).as_bytes());
    }

    /// Writes a value as pretty JSON to stdout through the redactor.
    pub(crate) fn print_json(&self, value: &impl serde::Serialize) {
        if let Ok(v) = serde_json::to_value(value) {
            let text =
                serde_json::to_string_pretty(&self.redactor.redact_json(&v)).unwrap_or_default();
            self.print(&format!("{text}\n"));
        }
    }
}

/// A duration flag as a runbook's `duration` parameter receives it (`30m`, `1h 30m`).
fn duration_param(value: std::time::Duration) -> String {
    humantime::format_duration(value).to_string()
}

/// Cancels `token` on SIGINT or SIGTERM: the run checkpoints, runs its `always` steps within
/// the grace budget (`--grace`) and exits with code 5.
pub(crate) fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(
            "signal received: stopping the current step; cleanup steps run within the grace budget"
        );
        token.cancel();
    });
}

/// Runs a loaded runbook with its parameters to the end: the shared body of `run`,
/// `refresh-dev`, `restore` and `migrations resync` (engine, signal handling, mode, exit code).
pub(crate) async fn start_run(
    ctx: &Context,
    loaded: &Loaded,
    values: ParamValues,
    confirm: ConfirmArgs,
    profile: BTreeMap<String, serde_json::Value>,
    dry_run: bool,
) -> Result<(), Error> {
    let cancel = CancellationToken::new();
    let engine = ctx.engine_with(confirm, cancel.clone(), profile)?;
    cancel_on_signals(cancel);
    let mode = if dry_run {
        crate::engine::RunMode::DryRun
    } else {
        crate::engine::RunMode::Real
    };
    let report = engine.start(loaded, values, mode).await?;
    finish_run(ctx, &report)
}

/// Prints the report in text mode (JSON mode already streamed it) and maps it to a result.
pub(crate) fn finish_run(ctx: &Context, report: &crate::engine::Report) -> Result<(), Error> {
    if let Ok(mut last) = ctx.last_report.lock() {
        *last = Some(report.clone());
    }
    if ctx.global.output == crate::ui::Format::Text {
        ctx.print(&crate::ui::report_text(report));
    }
    Error::from_report(report)
}
