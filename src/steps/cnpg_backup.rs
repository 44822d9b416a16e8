//! `uses: cnpg.backup`: an on-demand CNPG `Backup` of a Cluster with the method its store needs
//! (as `cnpgops backup` makes it), waited for until `completed` with its phase as progress.
//!
//! The Backup is named `<cluster>-<run id>`: an attempt after a crash finds the one it made and
//! waits for it instead of taking a second backup. `skip: true` takes none (the report says
//! so). A `failed` Backup fails the step. In `--dry-run` the create is a server-side dry run.

use std::time::Duration;

use crate::backup_catalog;
use crate::k8s::{backup_object, params, Connector, K8sError, ObjectRef};
use crate::runbook::{input, KindSignature};
use kube::core::DynamicObject;

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct CnpgBackup(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "cnpg.backup",
    summary: "take an on-demand Backup of a CNPG Cluster and wait until it completes",
    inputs: &[
        input("namespace", true, "the Cluster's namespace"),
        input("cluster", true, "the Cluster"),
        input(
            "timeout",
            false,
            "how long to wait for completion (default 30m)",
        ),
        input("skip", false, "take no backup (recorded in the report)"),
    ],
    outputs: &["name", "backup_id", "skipped"],
    idempotent: true,
};

fn timeout(i: &Inputs) -> Result<Duration, StepError> {
    match i.get("timeout") {
        None => Ok(Duration::from_secs(1800)),
        Some(_) => i.duration("timeout"),
    }
}

#[async_trait::async_trait]
impl Step for CnpgBackup {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let (ns, cluster) = (inputs.str("namespace")?, inputs.str("cluster")?);
        timeout(inputs)?;
        let description = if inputs.bool_or("skip", false)? {
            format!("skip the safety backup of Cluster {ns}/{cluster} (--skip-safety-backup)")
        } else {
            format!("back up Cluster {ns}/{cluster} and wait until the Backup completes")
        };
        Ok(StepPlan {
            description,
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (ns, cluster) = (ctx.inputs.str("namespace")?, ctx.inputs.str("cluster")?);
        let limit = timeout(&ctx.inputs)?;
        if ctx.inputs.bool_or("skip", false)? {
            ctx.events.log(format!(
                "SKIPPED: no safety backup of Cluster {ns}/{cluster} (--skip-safety-backup)"
            ));
            return Ok(Outputs::default()
                .with("skipped", true)
                .with("name", "")
                .with("backup_id", ""));
        }
        let kube = self.0.get().await?;
        let located = backup_catalog::locate(&kube, &ns, &cluster)
            .await
            .map_err(|e| StepError::Failed(crate::error::chain(&e)))?;
        let run_id = ctx.checkpoint.snapshot().await.run_id;
        let name = format!("{cluster}-{run_id}");
        let object = ObjectRef::new("Backup", Some(&ns), &name);
        let api = backup_object::api(&kube, &ns);
        let exists = api
            .get_opt(&name)
            .await
            .map_err(K8sError::api("read", &object))?
            .is_some();
        if exists {
            ctx.events
                .log(format!("adopting {object} from an earlier attempt"));
        } else {
            let form = &located.spec.form;
            let manifest = backup_object::manifest(
                &located.cluster,
                form.backup_method(),
                form.backup_plugin(),
                &name,
            );
            let body: DynamicObject = serde_json::from_value(manifest)
                .map_err(|e| StepError::Failed(format!("failed to build {object}: {e}")))?;
            api.create(&params::post(ctx.mode), &body)
                .await
                .map_err(K8sError::api("create", &object))?;
        }
        if params::dry(ctx.mode) {
            ctx.events
                .log(format!("dry run: server accepted creating {object}"));
            return Ok(Outputs::default()
                .with("skipped", false)
                .with("name", name)
                .with("backup_id", ""));
        }
        ctx.events.log(format!(
            "created {object} ({})",
            located.spec.form.describe()
        ));
        let progress = |phase: &str| {
            ctx.events
                .progress(format!("{object}: phase {phase}"), None, None)
        };
        let waited = tokio::select! {
            r = backup_object::wait(&api, &object, limit, &progress) => r,
            _ = ctx.cancel.cancelled() => return Err(StepError::Cancelled),
        };
        let status = waited.map_err(|e| {
            StepError::Failed(
                backup_object::failure(&object, &e).unwrap_or_else(|| crate::error::chain(&e)),
            )
        })?;
        let text = |k: &str| status[k].as_str().unwrap_or_default().to_string();
        ctx.events.log(format!(
            "{object} completed: backup {} ({} .. {})",
            text("backupId"),
            text("startedAt"),
            text("stoppedAt")
        ));
        Ok(Outputs::default()
            .with("skipped", false)
            .with("name", name)
            .with("backup_id", status["backupId"].clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::steps::testing::{context, inputs};
    use serde_json::json;

    #[test]
    fn the_plan_says_whether_the_safety_backup_is_skipped_and_checks_the_timeout() {
        let step = CnpgBackup(Connector::default());
        let take = step
            .plan(&inputs(
                json!({"namespace": "databases", "cluster": "shop-cnpg"}),
            ))
            .unwrap();
        assert_eq!(
            take.description,
            "back up Cluster databases/shop-cnpg and wait until the Backup completes"
        );
        assert!(take.writes);
        let skip = step
            .plan(&inputs(
                json!({"namespace": "databases", "cluster": "shop-cnpg", "skip": "true"}),
            ))
            .unwrap();
        assert!(skip.description.starts_with("skip the safety backup"));
        let bad = step.plan(&inputs(
            json!({"namespace": "databases", "cluster": "c", "timeout": "soon"}),
        ));
        assert!(matches!(bad, Err(StepError::Input { name, .. }) if name == "timeout"));
        assert!(step
            .plan(&inputs(json!({"namespace": "databases"})))
            .is_err());
    }

    #[test]
    fn the_timeout_defaults_to_half_an_hour() {
        assert_eq!(
            timeout(&inputs(json!({}))).unwrap(),
            Duration::from_secs(1800)
        );
        assert_eq!(
            timeout(&inputs(json!({"timeout": "2m"}))).unwrap(),
            Duration::from_secs(120)
        );
    }

    #[tokio::test]
    async fn a_skipped_backup_says_so_without_contacting_kubernetes() {
        let dir = tempfile::tempdir().unwrap();
        let with = json!({"namespace": "databases", "cluster": "shop-cnpg", "skip": true});
        let (ctx, rec) = context(with, RunMode::Real, dir.path());
        let out = CnpgBackup(Connector::default()).run(&ctx).await.unwrap();
        assert_eq!(out.values["skipped"], true);
        assert_eq!(out.values["name"], "");
        let logged = format!("{:?}", rec.events());
        assert!(logged.contains("SKIPPED: no safety backup"), "{logged}");
    }
}
