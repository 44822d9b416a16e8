//! `uses: argo.autosync`: pause an Argo CD Application's automated sync for the duration of a
//! runbook, and put it back exactly as it was.
//!
//! `action: pause` records `spec.syncPolicy.automated` (in the checkpoint before it writes, and
//! as the output `automated`) and removes it; `action: restore` writes back what `recorded`
//! holds (run it as an `always` step, so a failed run restores it too). Both are JSON merge
//! patches carrying the resourceVersion they read (a concurrent edit is re-read, not
//! overwritten). An empty `name` (no Application manages the target) does nothing; so does an
//! Application that does not exist when `optional` is true (refresh-dev's app may have none).
//!
//! **Drift**: after a restore in place or a refresh by recovery the live Cluster carries
//! `bootstrap.recovery`, an `externalClusters` origin and a new archive server name that Git
//! does not have. Re-enabling a recorded `selfHeal` would re-apply Git's Cluster over it (CNPG
//! refuses two bootstrap methods, and the old server name would archive into the old prefix).
//! So `restore` with `drifted: true` does not re-enable anything unless the person approved it
//! (`approved: true`, `--resume-autosync`): it leaves automated sync paused and refuses (exit 3)
//! with `commit`, what to commit to Git, and the command that re-enables it afterwards.

use kube::api::Patch;
use serde_json::{json, Value};

use crate::k8s::argo::App;
use crate::k8s::{params, Connector, K8sError};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct ArgoAutosync(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "argo.autosync",
    summary: "pause an Argo CD Application's automated sync, or restore what was recorded",
    inputs: &[
        input("namespace", true, "the Application's namespace (argocd)"),
        input("name", true, "the Application; empty: nothing to do"),
        input("action", true, "pause or restore"),
        input(
            "recorded",
            false,
            "restore: the `automated` output of the pause step",
        ),
        input(
            "optional",
            false,
            "an Application that does not exist is nothing to do (default false)",
        ),
        input(
            "drifted",
            false,
            "restore: the managed object no longer matches Git (default false)",
        ),
        input(
            "approved",
            false,
            "restore: re-enable even though `drifted` (the person approved it)",
        ),
        input(
            "commit",
            false,
            "restore with drift: what to commit to Git, for the refusal message",
        ),
    ],
    outputs: &["automated", "changed"],
    idempotent: true,
};

/// Attempts when another writer changes the Application between read and patch.
const CONFLICT_RETRIES: usize = 5;

fn action(i: &Inputs) -> Result<bool, StepError> {
    match i.str("action")?.as_str() {
        "pause" => Ok(true),
        "restore" => Ok(false),
        _ => Err(StepError::input("action", "expected pause or restore")),
    }
}

#[async_trait::async_trait]
impl Step for ArgoAutosync {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let pause = action(inputs)?;
        let (ns, name) = (inputs.str("namespace")?, inputs.opt_str("name")?);
        let description = match (name.filter(|n| !n.is_empty()), pause) {
            (None, _) => "no Argo CD Application to pause or restore".to_string(),
            (Some(n), true) => format!("pause automated sync of Argo CD Application {ns}/{n}"),
            (Some(n), false) => {
                format!("restore automated sync of Argo CD Application {ns}/{n} as recorded")
            }
        };
        Ok(StepPlan {
            description,
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let pause = action(&ctx.inputs)?;
        let ns = ctx.inputs.str("namespace")?;
        let Some(name) = ctx.inputs.opt_str("name")?.filter(|n| !n.is_empty()) else {
            ctx.events
                .log("no Argo CD Application manages the target: nothing to do");
            return Ok(Outputs::default()
                .with("automated", Value::Null)
                .with("changed", false));
        };
        let kube = self.0.get().await?;
        let app = App::new(&kube, &ns, &name);
        if ctx.inputs.bool_or("optional", false)? && !app.exists().await? {
            ctx.events
                .log(format!("{} does not exist: nothing to do", app.object));
            return Ok(Outputs::default()
                .with("automated", Value::Null)
                .with("changed", false));
        }
        let wanted = if pause {
            let noted = ctx.checkpoint.notes(&ctx.step_id).await;
            let current = app.get().await?;
            let recorded = match noted.get("automated") {
                Some(v) => v.clone(),
                None => {
                    let v = current
                        .data
                        .pointer("/spec/syncPolicy/automated")
                        .cloned()
                        .unwrap_or(Value::Null);
                    if !params::dry(ctx.mode) {
                        ctx.checkpoint
                            .note(&ctx.step_id, "automated", v.clone())
                            .await
                            .map_err(|e| {
                                StepError::Failed(format!("failed to record the sync policy: {e}"))
                            })?;
                    }
                    v
                }
            };
            let changed = write(ctx, &app, Value::Null).await?;
            let verb = if changed { "paused" } else { "already paused:" };
            ctx.events.log(format!(
                "{verb} automated sync of {} (recorded: {recorded})",
                app.object
            ));
            return Ok(Outputs::default()
                .with("automated", recorded)
                .with("changed", changed));
        } else {
            ctx.inputs.get("recorded").cloned().unwrap_or(Value::Null)
        };
        if wanted.is_null() {
            ctx.events.log(format!(
                "{} had no automated sync: nothing to restore",
                app.object
            ));
            return Ok(Outputs::default()
                .with("automated", Value::Null)
                .with("changed", false));
        }
        if ctx.inputs.bool_or("drifted", false)? && !ctx.inputs.bool_or("approved", false)? {
            return Err(StepError::Refused(held_message(
                &app,
                &wanted,
                &ctx.inputs.opt_str("commit")?.unwrap_or_default(),
            )));
        }
        let changed = write(ctx, &app, wanted.clone()).await?;
        ctx.events.log(format!(
            "restored automated sync of {}: {wanted}",
            app.object
        ));
        Ok(Outputs::default()
            .with("automated", wanted)
            .with("changed", changed))
    }
}

/// Why automated sync stays paused over a drifted object, and how to end that.
fn held_message(app: &App, recorded: &Value, commit: &str) -> String {
    let ns = app.object.namespace.clone().unwrap_or_default();
    let patch = json!({"spec": {"syncPolicy": {"automated": recorded}}});
    format!(
        "automated sync of {} stays paused: the object it manages was recreated and no longer matches Git, \
         and re-enabling {recorded} would re-apply Git's version over it. Commit to Git: {commit}; \
         then re-enable it with `kubectl -n {ns} patch application {} --type merge -p '{patch}'` \
         (or run again with --resume-autosync to re-enable it without the commit)",
        app.object, app.object.name
    )
}

/// The merge patch that turns `spec.syncPolicy.automated` from `now` into exactly `value`,
/// guarded by the resourceVersion `rv` that was read. A merge patch merges objects, so keys of
/// `now` that `value` lacks are removed explicitly.
fn patch_body(now: &Value, value: &Value, rv: &str) -> Value {
    let mut automated = value.clone();
    if let (Some(n), Some(v)) = (now.as_object(), automated.as_object_mut()) {
        for k in n.keys() {
            v.entry(k.clone()).or_insert(Value::Null);
        }
    }
    json!({"metadata": {"resourceVersion": rv},
        "spec": {"syncPolicy": {"automated": automated}}})
}

/// Sets `spec.syncPolicy.automated` to `value` (null removes it) unless it already is;
/// resourceVersion-checked, re-read on a conflict. Whether it wrote.
async fn write(ctx: &StepContext, app: &App, value: Value) -> Result<bool, StepError> {
    for _ in 0..CONFLICT_RETRIES {
        let current = app.get().await?;
        let now = current
            .data
            .pointer("/spec/syncPolicy/automated")
            .cloned()
            .unwrap_or(Value::Null);
        if now == value {
            return Ok(false);
        }
        let rv = current
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        let body = patch_body(&now, &value, &rv);
        match app
            .api
            .patch(
                &app.object.name,
                &params::patch(ctx.mode),
                &Patch::Merge(&body),
            )
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) if crate::k8s::error::status_code(&e) == Some(409) => continue,
            Err(e) => return Err(K8sError::api("patch", &app.object)(e).into()),
        }
    }
    Err(StepError::Failed(format!(
        "{} kept changing while its sync policy was written ({CONFLICT_RETRIES} conflicts)",
        app.object
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::steps::testing::{context, inputs};

    fn plan(with: Value) -> Result<StepPlan, StepError> {
        ArgoAutosync(Connector::default()).plan(&inputs(with))
    }

    #[test]
    fn the_plan_says_pause_or_restore_and_refuses_other_actions() {
        let pause = plan(json!({"namespace": "argocd", "name": "web-dev", "action": "pause"}));
        assert_eq!(
            pause.unwrap().description,
            "pause automated sync of Argo CD Application argocd/web-dev"
        );
        let restore = plan(json!({"namespace": "argocd", "name": "web-dev", "action": "restore"}));
        assert_eq!(
            restore.unwrap().description,
            "restore automated sync of Argo CD Application argocd/web-dev as recorded"
        );
        let none = plan(json!({"namespace": "argocd", "name": "", "action": "pause"})).unwrap();
        assert_eq!(
            none.description,
            "no Argo CD Application to pause or restore"
        );
        let bad = plan(json!({"namespace": "argocd", "name": "a", "action": "resume"}));
        assert!(matches!(bad, Err(StepError::Input { name, .. }) if name == "action"));
    }

    #[tokio::test]
    async fn no_application_is_nothing_to_do_without_contacting_kubernetes() {
        let dir = tempfile::tempdir().unwrap();
        let with = json!({"namespace": "argocd", "name": "", "action": "restore",
            "recorded": {"selfHeal": true}});
        let (ctx, _) = context(with, RunMode::Real, dir.path());
        let out = ArgoAutosync(Connector::default()).run(&ctx).await.unwrap();
        assert_eq!(out.values["changed"], false);
        assert!(out.values["automated"].is_null());
    }

    #[test]
    fn restoring_writes_exactly_the_recorded_policy() {
        let now = json!({"prune": true, "allowEmpty": true});
        let body = patch_body(&now, &json!({"selfHeal": true, "prune": false}), "42");
        assert_eq!(body["metadata"]["resourceVersion"], "42");
        assert_eq!(
            body["spec"]["syncPolicy"]["automated"],
            json!({"selfHeal": true, "prune": false, "allowEmpty": null})
        );
        let paused = patch_body(&now, &Value::Null, "7");
        assert!(paused["spec"]["syncPolicy"]["automated"].is_null());
    }
}
