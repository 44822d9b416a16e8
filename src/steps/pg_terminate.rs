//! `uses: pg.terminate`: end the sessions left on a database (after its app was stopped), so
//! nothing holds locks or writes while it is replaced, and wait until they are gone (a
//! terminated backend lives on while it rolls back). Only the owner's own sessions can be
//! ended by the owner; others are reported. Idempotent: ending nothing twice is harmless.

use std::time::Duration;

use crate::k8s::Connector;
use crate::pg::connect::Target;
use crate::pg::sessions::wait_gone;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct PgTerminate(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "pg.terminate",
    summary: "terminate the other sessions on a database",
    inputs: &[
        input("on", true, "the `connection` (from cnpg.cluster)"),
        input(
            "prod",
            false,
            "whether it is production (the engine's prod guard)",
        ),
    ],
    outputs: &["terminated", "others"],
    idempotent: true,
};

const TERMINATE: &str = "SELECT coalesce(array_agg(pid) FILTER (WHERE CASE WHEN pg_has_role(usesysid, 'MEMBER') THEN pg_terminate_backend(pid) ELSE false END), '{}'), \
    count(*) FILTER (WHERE NOT pg_has_role(usesysid, 'MEMBER')) \
    FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'";

/// How long the terminated sessions may take to roll back and go.
const GONE: Duration = Duration::from_secs(60);

#[async_trait::async_trait]
impl Step for PgTerminate {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let on = Target::from_input(inputs, "on")?;
        Ok(StepPlan {
            description: format!(
                "terminate the other sessions on {} ({TERMINATE})",
                on.describe()
            ),
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let on = Target::from_input(&ctx.inputs, "on")?;
        if crate::k8s::params::dry(ctx.mode) {
            ctx.events.log(format!(
                "dry run: would terminate the other sessions on {}",
                on.describe()
            ));
            return Ok(Outputs::default().with("terminated", 0).with("others", 0));
        }
        let kube = self.0.get().await?;
        let client = on.open(&kube, &ctx.redactor, false).await?;
        let failed = |e: tokio_postgres::Error| {
            StepError::Failed(format!(
                "failed to terminate the sessions on {}: {e}",
                on.describe()
            ))
        };
        let row = client.query_one(TERMINATE, &[]).await.map_err(failed)?;
        let (pids, others): (Vec<i32>, i64) = (row.get(0), row.get(1));
        let left = wait_gone(&client, &pids, GONE).await.map_err(failed)?;
        if left > 0 {
            return Err(StepError::Failed(format!(
                "terminated {} session(s) on {}, but {left} had not ended after {}s (a long \
                 rollback?); look at pg_stat_activity there, then resume",
                pids.len(),
                on.describe(),
                GONE.as_secs()
            )));
        }
        let ended = pids.len();
        ctx.events.log(format!(
            "terminated {ended} session(s) on {}",
            on.describe()
        ));
        if others > 0 {
            ctx.events.warn(format!(
                "{others} session(s) of other roles remain on {} (the owner cannot end them)",
                on.describe()
            ));
        }
        Ok(Outputs::default()
            .with("terminated", ended)
            .with("others", others))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::steps::testing::{connection, context, inputs};
    use serde_json::json;

    #[test]
    fn the_plan_shows_the_query_and_the_prod_flag() {
        let step = PgTerminate(Connector::default());
        let plan = step
            .plan(&inputs(
                json!({"on": connection("app-dev-cnpg"), "prod": "false"}),
            ))
            .unwrap();
        assert!(plan
            .description
            .starts_with("terminate the other sessions on database `app` of Cluster databases/app-dev-cnpg (SELECT"));
        assert!(plan.writes && !plan.prod);
        assert!(
            step.plan(&inputs(
                json!({"on": connection("app-dev-cnpg"), "prod": true})
            ))
            .unwrap()
            .prod
        );
        assert!(matches!(
            step.plan(&inputs(json!({"on": "app"}))),
            Err(StepError::Input { name, .. }) if name == "on"
        ));
    }

    #[test]
    fn only_the_owners_own_client_sessions_are_ended() {
        assert!(TERMINATE.contains("pid <> pg_backend_pid()"));
        assert!(TERMINATE.contains("backend_type = 'client backend'"));
        assert!(TERMINATE
            .contains("WHEN pg_has_role(usesysid, 'MEMBER') THEN pg_terminate_backend(pid)"));
    }

    #[tokio::test]
    async fn a_dry_run_ends_no_session() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = context(
            json!({"on": connection("app-dev-cnpg")}),
            RunMode::DryRun,
            dir.path(),
        );
        let out = PgTerminate(Connector::default()).run(&ctx).await.unwrap();
        assert_eq!(
            (&out.values["terminated"], &out.values["others"]),
            (&json!(0), &json!(0))
        );
    }
}
