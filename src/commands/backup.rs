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
use crate::backup_catalog::{self, CatalogError};
use crate::cli::BackupArgs;
use crate::engine::{Event, Reporter, StepStatus};
use crate::error::Error;
use crate::k8s::{backup_object, K8sError, ObjectRef};

/// The step id progress events carry.
const STEP: &str = "backup";

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
    let form = &located.spec.form;
    let manifest =
        backup_object::manifest(&cluster, form.backup_method(), form.backup_plugin(), &name);
    let body: DynamicObject = serde_json::from_value(manifest)
        .map_err(|e| Error::NotSupported(format!("failed to build {object}: {e}")))?;
    let api = backup_object::api(&kube, &ns);
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

/// Waits with [`backup_object::wait`]; a failed Backup or a timeout is a failed step (exit 4).
async fn wait(
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    timeout: Duration,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, Error> {
    backup_object::wait(api, object, timeout, progress)
        .await
        .map_err(|e| match backup_object::failure(object, &e) {
            Some(message) => Error::StepFailed { message },
            None => CatalogError::kube(object.to_string())(e).into(),
        })
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
