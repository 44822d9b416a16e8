//! `uses: argo.sync`: sync an Argo CD Application the way `argocd app sync APP [--prune]` does:
//! write its top-level `operation` as the Argo CD API server builds it (revision, `prune` only
//! when asked, the spec's `syncOptions` and `retry`, the hook strategy, an `info` entry naming
//! the cnpgops run; see [`crate::k8s::argo::sync_operation`]), refusing (exit 3) if an operation is already
//! requested or running; then follow `status.operationState` until it ends and wait for
//! `Synced` + `Healthy`. If a hook fails, its Pods' logs are reported and the step fails.
//!
//! On resume, an operation this run already started is followed, not started again, unless it
//! ended `Failed` or `Error`: the step failed, and running it again means syncing again.

use std::time::{Duration, Instant};

use serde_json::json;

use super::argo_app::busy_message;
use crate::k8s::argo::{sync_operation, with_resources, App, AppState};
use crate::k8s::hook_jobs::{self, failing_lines};
use crate::k8s::{params, Connector, Kube};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct ArgoSync(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "argo.sync",
    summary:
        "sync an Argo CD Application (like `argocd app sync --prune`) and wait for Synced/Healthy",
    inputs: &[
        input("namespace", true, "the Argo CD namespace"),
        input("name", true, "the Application"),
        input(
            "prune",
            false,
            "prune resources no longer in Git (default false: only when asked)",
        ),
        input(
            "resources",
            false,
            "only these resources ({group, kind, name, namespace}); default all",
        ),
        input(
            "username",
            false,
            "initiatedBy.username (default $USER, else cnpgops)",
        ),
        input(
            "timeout",
            false,
            "for the operation and Synced/Healthy (default 10m)",
        ),
        input("prod", false, "whether this is production"),
    ],
    outputs: &["phase", "message", "sync", "health", "revision", "hooks"],
    idempotent: true,
};

fn username(inputs: &Inputs) -> Result<String, StepError> {
    Ok(
        match inputs.opt_str("username")?.filter(|u| !u.is_empty()) {
            Some(u) => u,
            None => std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .map(|u| format!("{u} (cnpgops)"))
                .unwrap_or_else(|| "cnpgops".into()),
        },
    )
}

fn resources(inputs: &Inputs) -> Result<Vec<serde_json::Value>, StepError> {
    match inputs.get("resources") {
        None | Some(serde_json::Value::Null) => Ok(vec![]),
        Some(serde_json::Value::Array(items)) if items.iter().all(|i| i.is_object()) => {
            Ok(items.clone())
        }
        Some(_) => Err(StepError::input(
            "resources",
            "expected a list of {group, kind, name, namespace}",
        )),
    }
}

fn timeout(inputs: &Inputs) -> Result<Duration, StepError> {
    match inputs.get("timeout") {
        None => Ok(Duration::from_secs(600)),
        Some(_) => inputs.duration("timeout"),
    }
}

#[async_trait::async_trait]
impl Step for ArgoSync {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        timeout(inputs)?;
        let prune = if inputs.bool_or("prune", false)? {
            " --prune"
        } else {
            ""
        };
        Ok(StepPlan {
            description: format!(
                "sync Application {}/{} (like `argocd app sync{prune}`) and wait until Synced and Healthy",
                inputs.str("namespace")?,
                inputs.str("name")?
            ),
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let kube = self.0.get().await?;
        let app = App::new(
            &kube,
            &ctx.inputs.str("namespace")?,
            &ctx.inputs.str("name")?,
        );
        let run_id = ctx.checkpoint.snapshot().await.run_id;
        let limit = timeout(&ctx.inputs)?;
        let t0 = Instant::now();
        if !start(ctx, &app, &run_id).await? {
            return Ok(Outputs::default().with("phase", "dry-run"));
        }
        let state = follow(ctx, &app, &run_id, t0, limit).await?;
        if state.phase.as_deref() != Some("Succeeded") {
            return Err(failed(ctx, &kube, &app, &state).await);
        }
        let state = settle(ctx, &app, t0, limit).await?;
        ctx.events
            .log(format!("{}: {}", app.object, state.summary()));
        let hooks: Vec<_> = state
            .resources
            .iter()
            .filter(|r| r.hook_phase.is_some())
            .collect();
        Ok(Outputs::default()
            .with("phase", state.phase.clone().unwrap_or_default())
            .with("message", state.message.clone().unwrap_or_default())
            .with("sync", state.sync.clone())
            .with("health", state.health.clone())
            .with("revision", state.revision.clone().unwrap_or_default())
            .with("hooks", json!(hooks)))
    }
}

/// Writes the operation unless this run's is already there; `false` in a dry run.
async fn start(ctx: &StepContext, app: &App, run_id: &str) -> Result<bool, StepError> {
    for _ in 0..5 {
        let obj = app.get().await?;
        let state = AppState::of(&obj);
        let ours = state.run.as_deref() == Some(run_id);
        if ours && !(state.completed() && state.phase.as_deref() != Some("Succeeded")) {
            ctx.events.log(format!(
                "{} already has this run's sync operation: following it",
                app.object
            ));
            return Ok(true);
        }
        if ours {
            // The step is run again after it failed (`resume`): sync again, as a person would.
            ctx.events.log(format!(
                "{}: this run's earlier sync ended {}: syncing again",
                app.object,
                state.phase.as_deref().unwrap_or_default()
            ));
        } else if state.busy() {
            return Err(StepError::Refused(busy_message(app, &state)));
        }
        let op = sync_operation(
            &obj.data,
            &username(&ctx.inputs)?,
            ctx.inputs.bool_or("prune", false)?,
            run_id,
        );
        let op = with_resources(op, &resources(&ctx.inputs)?);
        let prune = if op["sync"]["prune"] == true {
            "prune, "
        } else {
            ""
        };
        if app.start(&obj, op, ctx.mode).await? {
            if params::dry(ctx.mode) {
                ctx.events.log(format!(
                    "dry run: server accepted the sync operation on {}",
                    app.object
                ));
                return Ok(false);
            }
            ctx.events
                .log(format!("started a sync of {} ({prune}hooks)", app.object));
            return Ok(true);
        }
        ctx.events.log(format!(
            "{} changed while starting the sync: reading it again",
            app.object
        ));
    }
    Err(StepError::Failed(format!(
        "failed to start a sync of {}: it kept changing under us",
        app.object
    )))
}

/// Follows this run's operation until it has ended, reporting phase and hook changes.
async fn follow(
    ctx: &StepContext,
    app: &App,
    run_id: &str,
    t0: Instant,
    limit: Duration,
) -> Result<AppState, StepError> {
    let mut last = String::new();
    loop {
        let state = AppState::of(&app.get().await?);
        let ours = state.run.as_deref() == Some(run_id);
        if ours {
            let now = progress_line(&state);
            if now != last {
                ctx.events.progress(now.clone(), None, None);
                last = now;
            }
            if state.completed() {
                return Ok(state);
            }
        } else if !state.operation_pending {
            return Err(StepError::Failed(format!(
                "the sync operation of {} disappeared (another writer replaced or terminated it): {}",
                app.object, state.summary()
            )));
        }
        if t0.elapsed() > limit {
            return Err(timed_out(app, &state, limit));
        }
        ctx.sleep(Duration::from_millis(500)).await?;
    }
}

fn progress_line(state: &AppState) -> String {
    let hooks: Vec<String> = state
        .resources
        .iter()
        .filter_map(|r| {
            r.hook_phase
                .as_ref()
                .map(|p| format!("hook Job {}: {p}", r.name))
        })
        .collect();
    let phase = state.phase.as_deref().unwrap_or("requested");
    match hooks.is_empty() {
        true => format!("sync operation {phase}"),
        false => format!("sync operation {phase}; {}", hooks.join(", ")),
    }
}

/// After a successful operation, waits for `Synced` and `Healthy` as reported by a refresh
/// after it (the ending write leaves `status.sync`/`status.health` as they were before).
async fn settle(
    ctx: &StepContext,
    app: &App,
    t0: Instant,
    limit: Duration,
) -> Result<AppState, StepError> {
    let mut last = String::new();
    loop {
        let state = AppState::of(&app.get().await?);
        let refreshed = state.refreshed_since_operation();
        if refreshed && state.sync == "Synced" && state.health == "Healthy" {
            return Ok(state);
        }
        let now = match refreshed {
            true => format!(
                "waiting for Synced/Healthy: {}/{}",
                state.sync, state.health
            ),
            false => "waiting for Argo CD to refresh the app after the sync".to_string(),
        };
        if now != last {
            ctx.events.progress(now.clone(), None, None);
            last = now;
        }
        if t0.elapsed() > limit {
            return Err(timed_out(app, &state, limit));
        }
        ctx.sleep(Duration::from_millis(500)).await?;
    }
}

fn timed_out(app: &App, state: &AppState, limit: Duration) -> StepError {
    StepError::Failed(format!(
        "timed out after {} waiting for {} to be synced and healthy (last seen: {})",
        humantime::format_duration(limit),
        app.object,
        state.summary()
    ))
}

/// The step's error for a failed operation, after reporting the failed hooks' logs.
async fn failed(ctx: &StepContext, kube: &Kube, app: &App, state: &AppState) -> StepError {
    let mut lines = vec![];
    for hook in state.failed_hooks().filter(|r| r.kind == "Job") {
        ctx.events.warn(format!(
            "hook Job {}/{} failed: {}",
            hook.namespace, hook.name, hook.message
        ));
        for line in hook_logs(ctx, kube, &hook.namespace, &hook.name).await {
            ctx.events.warn(format!("  {line}"));
            lines.push(line);
        }
    }
    let detail = match lines.is_empty() {
        true => String::new(),
        false => format!("; failing lines: {}", lines.join(" | ")),
    };
    StepError::Failed(format!(
        "the sync of {} ended {}: {}{detail}",
        app.object,
        state.phase.as_deref().unwrap_or("?"),
        state.message.as_deref().unwrap_or("no message"),
    ))
}

/// The failing lines of a hook Job's Pods (`pod: line`), redacted; empty if it is gone.
async fn hook_logs(ctx: &StepContext, kube: &Kube, ns: &str, name: &str) -> Vec<String> {
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(kube.client.clone(), ns);
    let Ok(Some(job)) = jobs.get_opt(name).await else {
        return vec![];
    };
    hook_jobs::learn_secrets(kube, ns, &job, &ctx.redactor).await;
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let logs = hook_jobs::logs(kube, ns, name, &uid)
        .await
        .unwrap_or_default();
    logs.iter()
        .flat_map(|(pod, text)| {
            failing_lines(&ctx.redactor.redact(text))
                .into_iter()
                .map(move |l| format!("{pod}: {l}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_a_write_like_argocd_app_sync_prune() {
        let inputs = Inputs(
            json!({"namespace": "argocd", "name": "web-x-dev", "prune": true})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let plan = ArgoSync(Connector::default()).plan(&inputs).unwrap();
        assert!(plan.writes);
        assert_eq!(
            plan.description,
            "sync Application argocd/web-x-dev (like `argocd app sync --prune`) and wait until Synced and Healthy"
        );
        assert_eq!(
            username(&Inputs(
                json!({"username": "ci"}).as_object().cloned().unwrap()
            ))
            .unwrap(),
            "ci"
        );
    }
}
