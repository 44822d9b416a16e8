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
use kube::core::DynamicObject;

use crate::k8s::argo::{sync_operation, with_resources, App, AppState};
use crate::k8s::conditions::argo::{SyncOperationEnded, SyncedHealthy};
use crate::k8s::conditions::{Check, Judge};
use crate::k8s::hook_jobs::{self, failing_lines};
use crate::k8s::{params, wait, Connector, K8sError, Kube};
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

/// Follows this run's operation until it has ended (`sync_operation_ended`), reporting phase
/// and hook changes.
async fn follow(
    ctx: &StepContext,
    app: &App,
    run_id: &str,
    t0: Instant,
    limit: Duration,
) -> Result<AppState, StepError> {
    wait_for(ctx, app, &SyncOperationEnded { run_id }, t0, limit).await
}

/// After a successful operation, waits for `synced_healthy`.
async fn settle(
    ctx: &StepContext,
    app: &App,
    t0: Instant,
    limit: Duration,
) -> Result<AppState, StepError> {
    wait_for(ctx, app, &SyncedHealthy, t0, limit).await
}

/// Watches the Application until `judge` holds (what is pending as progress), within what is
/// left of `limit` since `t0`; cancelled with the step.
async fn wait_for(
    ctx: &StepContext,
    app: &App,
    judge: &impl Judge<DynamicObject>,
    t0: Instant,
    limit: Duration,
) -> Result<AppState, StepError> {
    let mut last = String::new();
    let progress = |o: &DynamicObject| {
        if let Check::Pending(now) = judge.check(Some(o)) {
            if now != last {
                ctx.events.progress(now.clone(), None, None);
                last = now;
            }
        }
    };
    let left = limit.saturating_sub(t0.elapsed());
    let waited = tokio::select! {
        r = wait::until_seeing(&app.api, &app.object, judge, left, progress) => r,
        _ = ctx.cancel.cancelled() => return Err(StepError::Cancelled),
    };
    match waited {
        Ok(Some(found)) => Ok(AppState::of(&found)),
        Ok(None) => Err(K8sError::NotFound {
            object: app.object.clone(),
        }
        .into()),
        Err(K8sError::TimedOut { last, .. }) => Err(StepError::Failed(format!(
            "timed out after {} waiting for {} to be synced and healthy (last seen: {last})",
            humantime::format_duration(limit),
            app.object,
        ))),
        Err(K8sError::Unreachable { reason, .. }) => Err(StepError::Failed(format!(
            "the sync of {}: {reason}",
            app.object
        ))),
        Err(e) => Err(e.into()),
    }
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
