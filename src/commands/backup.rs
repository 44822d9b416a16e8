//! `cnpgops backup APP [--env prod] [--wait]`: an on-demand CNPG `Backup` of the app's Cluster,
//! with the method its store needs (`barmanObjectStore` in-tree, `plugin` with the barman-cloud
//! plugin), named `<cluster>-<YYYYMMDDhhmmss>` like `kubectl cnpg backup`; with `--wait`, its
//! phase is reported as progress until `completed` (exit 0) or `failed` / `walArchivingFailing`
//! (exit 4, with the Backup's `status.error`).

use std::time::{Duration, Instant};

use kube::api::PostParams;
use kube::core::DynamicObject;
use kube::Api;
use serde_json::{json, Value};

use super::Context;
use crate::backup_catalog::store::{Form, PLUGIN};
use crate::backup_catalog::{self, CatalogError};
use crate::cli::BackupArgs;
use crate::engine::{Event, Reporter, StepStatus};
use crate::error::Error;
use crate::k8s::conditions::Condition;
use crate::k8s::{resources, wait, K8sError, ObjectRef, MANAGED_BY};

/// The step id progress events carry.
const STEP: &str = "backup";

/// The Backup object for `cluster` with the method `form` needs.
pub(crate) fn manifest(cluster: &ObjectRef, form: &Form, name: &str) -> Value {
    let mut spec = json!({"cluster": {"name": cluster.name}, "method": form.backup_method()});
    if let Form::Plugin { .. } = form {
        spec["pluginConfiguration"] = json!({"name": PLUGIN});
    }
    json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": name,
            "namespace": cluster.namespace,
            "labels": {MANAGED_BY.0: MANAGED_BY.1, "cnpg.io/cluster": cluster.name},
        },
        "spec": spec,
    })
}

pub(crate) fn backups_api(kube: &crate::k8s::Kube, ns: &str) -> Result<Api<DynamicObject>, Error> {
    let kind = resources::known("Backup", None).ok_or_else(|| {
        Error::NotSupported("the Backup kind is not listed in k8s::resources".into())
    })?;
    Ok(kind.api(kube, ns))
}

pub(crate) async fn run(ctx: &Context, args: BackupArgs) -> Result<(), Error> {
    let (kube, cluster) = super::backups::target(ctx, &args.app, &args.env).await?;
    let ns = cluster.namespace.clone().unwrap_or_default();
    let located = backup_catalog::locate(&kube, &ns, &cluster.name).await?;
    let name = format!(
        "{}-{}",
        cluster.name,
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    let object = ObjectRef::new("Backup", Some(&ns), &name);
    let body: DynamicObject = serde_json::from_value(manifest(&cluster, &located.spec.form, &name))
        .map_err(|e| Error::NotSupported(format!("failed to build {object}: {e}")))?;
    let api = backups_api(&kube, &ns)?;
    api.create(&PostParams::default(), &body)
        .await
        .map_err(K8sError::api("create", &object))
        .map_err(CatalogError::kube(object.to_string()))?;
    let reporter = crate::ui::reporter_for(ctx.global.output, ctx.global.quiet);
    reporter.event(&Event::StepStarted {
        step: STEP.into(),
        uses: "backup".into(),
        attempt: 1,
        description: format!(
            "{object} of {cluster} ({}, {})",
            located.spec.form.describe(),
            located.spec.layout.url()
        ),
    });
    if !args.wait {
        ctx.print(&format!(
            "created {object}; follow it with `cnpgops backups {} --env {}`\n",
            args.app, args.env
        ));
        return Ok(());
    }
    let t0 = Instant::now();
    let progress = |phase: &str| {
        reporter.event(&Event::StepProgress {
            step: STEP.into(),
            message: format!("phase {phase}"),
            done: None,
            total: None,
        })
    };
    let done = wait(&api, &object, args.timeout, &progress).await;
    finish(ctx, reporter.as_ref(), &object, done, t0)
}

/// Watches the Backup until it is `backup_completed` (its status), telling `progress` each new
/// phase; `failed` or `walArchivingFailing` fails at once with the Backup's `status.error`.
pub(crate) async fn wait(
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    timeout: Duration,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, Error> {
    let mut last = String::from("(none)");
    let seen = |o: &DynamicObject| {
        let phase = o.data.pointer("/status/phase").and_then(Value::as_str);
        if let Some(phase) = phase.filter(|p| *p != last) {
            progress(phase);
            last = phase.to_string();
        }
    };
    let waited =
        wait::until_seeing(api, object, Condition::BackupCompleted, None, timeout, seen).await;
    match waited {
        Ok(found) => Ok(found
            .map(|o| o.data["status"].clone())
            .unwrap_or(Value::Null)),
        Err(K8sError::Unreachable { reason, .. }) => Err(Error::StepFailed {
            message: format!("{object} failed: {reason}"),
        }),
        Err(e @ K8sError::TimedOut { .. }) => Err(Error::StepFailed {
            message: e.to_string(),
        }),
        Err(e) => Err(CatalogError::kube(object.to_string())(e).into()),
    }
}

fn finish(
    ctx: &Context,
    reporter: &dyn Reporter,
    object: &ObjectRef,
    done: Result<Value, Error>,
    t0: Instant,
) -> Result<(), Error> {
    let duration_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    let status = match done {
        Ok(s) => s,
        Err(e) => {
            let message = Some(e.to_string());
            reporter.event(&Event::StepFinished {
                step: STEP.into(),
                status: StepStatus::Failed,
                duration_ms,
                message,
            });
            return Err(e);
        }
    };
    let text = |k: &str| status[k].as_str().unwrap_or("-").to_string();
    reporter.event(&Event::StepFinished {
        step: STEP.into(),
        status: StepStatus::Succeeded,
        duration_ms,
        message: None,
    });
    match ctx.global.output {
        crate::ui::Format::Json => {
            ctx.print_json(&json!({"backup": object.name, "status": status}))
        }
        crate::ui::Format::Text => ctx.print(&format!(
            "{object} completed: backup {} ({}), {} .. {}, WAL {} .. {}\n",
            text("backupId"),
            text("backupName"),
            text("startedAt"),
            text("stoppedAt"),
            text("beginWal"),
            text("endWal")
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_matches_the_store_form() {
        let c = ObjectRef::new("Cluster", Some("databases"), "shop-cnpg");
        let in_tree = manifest(&c, &Form::InTree, "shop-cnpg-20261124010203");
        assert_eq!(in_tree["spec"]["method"], "barmanObjectStore");
        assert!(in_tree["spec"].get("pluginConfiguration").is_none());
        assert_eq!(
            in_tree["metadata"]["labels"]["cnpg.io/cluster"],
            "shop-cnpg"
        );
        let plugin = manifest(
            &c,
            &Form::Plugin {
                object_store: "store".into(),
            },
            "b",
        );
        assert_eq!(plugin["spec"]["method"], "plugin");
        assert_eq!(plugin["spec"]["pluginConfiguration"]["name"], PLUGIN);
        assert_eq!(plugin["spec"]["cluster"]["name"], "shop-cnpg");
        assert_eq!(plugin["metadata"]["namespace"], "databases");
    }
}
