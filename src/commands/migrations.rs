//! `cnpgops migrations resync APP [--env dev]` (the `migration-resync` runbook) and
//! `cnpgops migrations status APP [--env dev]` (the Application and its hook Jobs, read only).

use std::collections::BTreeMap;

use super::{duration_param, start_run, Context};
use crate::cli::{value_name, MigrationsCommand, MigrationsResyncArgs, MigrationsTarget};
use crate::error::Error;
use crate::k8s::argo::{App, AppState};
use crate::k8s::hook_jobs::{self, HookJob};
use crate::profile::{EnvNames, Resolved};
use crate::ui::Format;
use serde_json::json;

pub(super) async fn run(ctx: &Context, cmd: MigrationsCommand) -> Result<(), Error> {
    match cmd {
        MigrationsCommand::Resync(args) => resync(ctx, args).await,
        MigrationsCommand::Status(target) => status(ctx, target).await,
    }
}

/// The profile's names of the app in `env`.
fn names(ctx: &Context, target: &MigrationsTarget) -> Result<EnvNames, Error> {
    let (name, profile) = ctx.naming_profile()?;
    let resolved = Resolved::new(&name, &profile, &target.app, &profile.prod_env, &target.env);
    let mut env = resolved.target.clone();
    env.prod = resolved.is_prod(&resolved.target);
    Ok(env)
}

async fn resync(ctx: &Context, args: MigrationsResyncArgs) -> Result<(), Error> {
    let t = &args.target;
    let given = BTreeMap::from([
        ("app".to_string(), t.app.clone()),
        ("env".to_string(), t.env.clone()),
        ("selector".to_string(), t.selector.clone()),
        ("timeout".to_string(), duration_param(args.timeout)),
        ("prune".to_string(), value_name(&args.prune)),
    ]);
    let (loaded, values) = ctx.load_given("migration-resync", &given)?;
    let profile = ctx.profile_scope(&values)?;
    start_run(ctx, &loaded, values, args.confirm, profile, args.dry_run).await
}

async fn status(ctx: &Context, target: MigrationsTarget) -> Result<(), Error> {
    let env = names(ctx, &target)?;
    let kube = ctx.kube.get().await.map_err(kube_error)?;
    let app = App::new(&kube, &env.argo_namespace, &env.argo_app);
    let state = AppState::of(&app.get().await.map_err(kube_error)?);
    let jobs: Vec<HookJob> = hook_jobs::list(&kube, &env.app_namespace, &target.selector)
        .await
        .map_err(kube_error)?
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    match ctx.global.output {
        Format::Json => ctx.print_json(&json!({
            "application": format!("{}/{}", env.argo_namespace, env.argo_app),
            "namespace": env.app_namespace, "prod": env.prod, "state": state, "jobs": jobs,
        })),
        Format::Text => ctx.print(&status_text(&target.app, &app, &env, &state, &jobs)),
    }
    Ok(())
}

fn kube_error(e: crate::k8s::K8sError) -> Error {
    Error::Usage(crate::error::chain(&e))
}

fn status_text(
    name: &str,
    app: &App,
    env: &EnvNames,
    state: &AppState,
    jobs: &[HookJob],
) -> String {
    let mut out = format!("{}: {}\n", app.object, state.summary());
    if let Some(at) = &state.finished_at {
        let by = state.initiated_by.as_deref().unwrap_or("?");
        out.push_str(&format!(
            "  last operation finished {at}, started by {by}\n"
        ));
    }
    for r in state.resources.iter().filter(|r| r.hook_phase.is_some()) {
        let phase = r.hook_phase.as_deref().unwrap_or("");
        out.push_str(&format!(
            "  hook {} {}: {phase} {}\n",
            r.kind, r.name, r.message
        ));
    }
    if jobs.is_empty() {
        out.push_str(&format!(
            "no hook or migration Jobs in {}\n",
            env.app_namespace
        ));
    }
    for j in jobs {
        out.push_str(&format!(
            "Job {}/{} ({}): {}",
            env.app_namespace,
            j.name,
            j.what(),
            j.state
        ));
        if let Some(r) = &j.reason {
            out.push_str(&format!(" ({r})"));
        }
        if j.deleting {
            out.push_str(" [being deleted]");
        }
        if j.hook_finalizer {
            out.push_str(" [held by argocd.argoproj.io/hook-finalizer]");
        }
        out.push('\n');
    }
    if jobs.iter().any(HookJob::failed) && !state.busy() {
        let env_flag = if env.env == "dev" {
            String::new()
        } else {
            format!(" --env {}", env.env)
        };
        out.push_str(&format!(
            "to clean up and sync again: cnpgops migrations resync {name}{env_flag}\n"
        ));
    }
    out
}
