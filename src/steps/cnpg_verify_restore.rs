//! `uses: cnpg.verify_restore`: a recovered cluster is really usable: the app's credentials (the
//! `connection` Secret) log in to its database, the server is out of recovery
//! (`pg_is_in_recovery()` false, i.e. promoted), and it runs on a timeline after the source
//! backup's (`timeline_id` of `pg_control_checkpoint()`, or of the current WAL file when that
//! function is not granted). A read-only session, to the Cluster's `status.currentPrimary`;
//! `--dry-run` only says what it would check (the recovered cluster was only dry-run created).

use std::time::Duration;

use kube::core::DynamicObject;
use serde_json::Value;

use crate::k8s::{resources, Connector, K8sError, Kube, ObjectRef};
use crate::pg::connect::{OpenFailure, Target};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct CnpgVerifyRestore(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "cnpg.verify_restore",
    summary:
        "check a recovered cluster: app credentials log in, not in recovery, timeline advanced",
    inputs: &[
        input(
            "on",
            true,
            "the recovered database's `connection` (app credentials Secret)",
        ),
        input(
            "source_timeline",
            true,
            "the timeline of the backup restored from",
        ),
    ],
    outputs: &["timeline", "in_recovery"],
    idempotent: true,
};

const TIMELINE: &str = "SELECT timeline_id::bigint FROM pg_control_checkpoint()";
const WAL_TIMELINE: &str =
    "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint";

#[async_trait::async_trait]
impl Step for CnpgVerifyRestore {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let on = Target::from_input(inputs, "on")?;
        let tl = inputs.int("source_timeline")?;
        Ok(StepPlan {
            description: format!(
                "log in to {} with its app credentials; check it is out of recovery on a timeline after {tl}",
                on.describe()
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let mut on = Target::from_input(&ctx.inputs, "on")?;
        let source = ctx.inputs.int("source_timeline")?;
        if crate::k8s::params::dry(ctx.mode) {
            ctx.events.log(format!(
                "dry run: would log in to {} and check it is out of recovery on a timeline after {source}",
                on.describe()
            ));
            return Ok(Outputs::default());
        }
        let kube = self.0.get().await?;
        on.pod = primary(&kube, &on).await?;
        let client = open_once_password_applied(&kube, &on, ctx)
            .await
            .map_err(|e| match e {
                StepError::Failed(e) => StepError::Failed(format!(
                    "the app credentials (Secret {}/{}) do not log in to {}: {e}",
                    on.namespace,
                    on.secret,
                    on.describe()
                )),
                other => other,
            })?;
        let fail = |what: &str, e: tokio_postgres::Error| {
            StepError::Failed(format!("failed to read {what} of {}: {e}", on.describe()))
        };
        let row = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .map_err(|e| fail("pg_is_in_recovery()", e))?;
        let in_recovery: bool = row.get(0);
        if in_recovery {
            return Err(StepError::Failed(format!(
                "{} is still in recovery: it was not promoted",
                on.describe()
            )));
        }
        let timeline: i64 = match client.query_one(TIMELINE, &[]).await {
            Ok(r) => r.get(0),
            Err(_) => client
                .query_one(WAL_TIMELINE, &[])
                .await
                .map_err(|e| fail("the timeline", e))?
                .get(0),
        };
        if timeline <= source {
            return Err(StepError::Failed(format!(
                "{} is on timeline {timeline}, not after the source backup's {source}: it was not promoted from a recovery",
                on.describe()
            )));
        }
        ctx.events.log(format!(
            "{}: app credentials log in, out of recovery, timeline {timeline} (source {source})",
            on.describe()
        ));
        Ok(Outputs::default()
            .with("timeline", timeline)
            .with("in_recovery", Value::Bool(false)))
    }
}

/// How long a refused password is retried: CNPG writes the recovered cluster's `-app` Secret,
/// and its instance manager sets that password on the server only once the instance is up
/// (`refreshCredentialsFromSecret` in the instance reconciler, no status field says when), so
/// right after the Cluster turns healthy the Secret may still be ahead of the server.
const PASSWORD_GRACE: Duration = Duration::from_secs(90);
const PASSWORD_RETRY: Duration = Duration::from_secs(2);

/// Logs in to `on`, retrying a refused password for [`PASSWORD_GRACE`] (every other failure,
/// and a password still refused after it, is reported at once).
async fn open_once_password_applied(
    kube: &Kube,
    on: &Target,
    ctx: &StepContext,
) -> Result<tokio_postgres::Client, StepError> {
    let deadline = tokio::time::Instant::now() + PASSWORD_GRACE;
    let mut said = false;
    loop {
        match on.try_open(kube, &ctx.redactor, true).await {
            Err(OpenFailure::Pg(e))
                if e.password_refused() && tokio::time::Instant::now() < deadline =>
            {
                if !std::mem::replace(&mut said, true) {
                    ctx.events.log(format!(
                        "{} refuses the password of Secret {}/{} yet: CNPG's instance manager sets it once the instance is up; retrying for up to {}",
                        on.describe(),
                        on.namespace,
                        on.secret,
                        humantime::format_duration(PASSWORD_GRACE)
                    ));
                }
                ctx.sleep(PASSWORD_RETRY).await?;
            }
            other => return other.map_err(OpenFailure::into_step_error),
        }
    }
}

/// The Cluster's current primary Pod (`status.currentPrimary`), else the one `on` names.
async fn primary(kube: &Kube, on: &Target) -> Result<String, StepError> {
    let object = ObjectRef::new("Cluster", Some(&on.namespace), &on.cluster);
    let api = kube::Api::<DynamicObject>::namespaced_with(
        kube.client.clone(),
        &on.namespace,
        &resources::cnpg_cluster(),
    );
    let found = api
        .get_opt(&on.cluster)
        .await
        .map_err(K8sError::api("read", &object))?
        .ok_or_else(|| StepError::Failed(format!("failed to find {object}")))?;
    Ok(found
        .data
        .pointer("/status/currentPrimary")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| on.pod.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::steps::testing::{connection, context, inputs};
    use serde_json::json;

    #[test]
    fn the_plan_names_the_cluster_and_the_timeline_to_pass() {
        let step = CnpgVerifyRestore(Connector::default());
        let plan = step
            .plan(&inputs(
                json!({"on": connection("shop-r"), "source_timeline": "3"}),
            ))
            .unwrap();
        assert_eq!(
            plan.description,
            "log in to database `app` of Cluster databases/shop-r with its app credentials; \
             check it is out of recovery on a timeline after 3"
        );
        assert!(!plan.writes);
        let bad_on = step.plan(&inputs(
            json!({"on": {"cluster": "x"}, "source_timeline": 1}),
        ));
        assert!(matches!(bad_on, Err(StepError::Input { name, .. }) if name == "on"));
        let bad_tl = step.plan(&inputs(
            json!({"on": connection("shop-r"), "source_timeline": "two"}),
        ));
        assert!(matches!(bad_tl, Err(StepError::Input { name, .. }) if name == "source_timeline"));
    }

    #[tokio::test]
    async fn a_dry_run_only_says_what_it_would_check() {
        let dir = tempfile::tempdir().unwrap();
        let with = json!({"on": connection("shop-r"), "source_timeline": 2});
        let (ctx, rec) = context(with, RunMode::DryRun, dir.path());
        let out = CnpgVerifyRestore(Connector::default())
            .run(&ctx)
            .await
            .unwrap();
        assert!(out.values.is_empty());
        let logged = format!("{:?}", rec.events());
        assert!(
            logged.contains("dry run: would log in to database `app`"),
            "{logged}"
        );
    }
}
