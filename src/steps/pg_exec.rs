//! `uses: pg.exec`: run SQL on a cluster's database as its owner (e.g. `ANALYZE`).
//!
//! With `read_only: true` it runs in a read-only session, also under `--dry-run`; otherwise
//! `--dry-run` only describes it (no SQL write is ever sent in a dry run).

use serde_json::Value;

use crate::k8s::Connector;
use crate::pg::connect::Target;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct PgExec(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "pg.exec",
    summary: "run SQL on a database as its owner; outputs the first column of the result",
    inputs: &[
        input("on", true, "the `connection` (from cnpg.cluster)"),
        input("sql", true, "the statements"),
        input(
            "read_only",
            false,
            "a read-only session (runs in --dry-run too)",
        ),
    ],
    outputs: &["rows"],
    idempotent: false,
};

#[async_trait::async_trait]
impl Step for PgExec {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let on = Target::from_input(inputs, "on")?;
        let read_only = inputs.bool_or("read_only", false)?;
        Ok(StepPlan {
            description: format!("run `{}` on {}", inputs.str("sql")?.trim(), on.describe()),
            writes: !read_only,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let on = Target::from_input(&ctx.inputs, "on")?;
        let sql = ctx.inputs.str("sql")?;
        let read_only = ctx.inputs.bool_or("read_only", false)?;
        if crate::k8s::params::dry(ctx.mode) && !read_only {
            ctx.events.log(format!(
                "dry run: would run `{}` on {}",
                sql.trim(),
                on.describe()
            ));
            return Ok(Outputs::default().with("rows", Value::Array(vec![])));
        }
        let kube = self.0.get().await?;
        let client = on.open(&kube, &ctx.redactor, read_only).await?;
        let messages = client.simple_query(&sql).await.map_err(|e| {
            StepError::Failed(format!(
                "failed to run `{}` on {}: {e}",
                sql.trim(),
                on.describe()
            ))
        })?;
        let rows: Vec<Value> = messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some(Value::from(r.get(0).unwrap_or("")))
                }
                _ => None,
            })
            .collect();
        ctx.events
            .log(format!("ran `{}` on {}", sql.trim(), on.describe()));
        Ok(Outputs::default().with("rows", Value::Array(rows)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::steps::testing::{connection, context, inputs};
    use serde_json::json;

    #[test]
    fn the_plan_shows_the_sql_and_whether_it_writes() {
        let step = PgExec(Connector::default());
        let plan = step
            .plan(&inputs(
                json!({"on": connection("app-dev-cnpg"), "sql": "  ANALYZE\n"}),
            ))
            .unwrap();
        assert_eq!(
            plan.description,
            "run `ANALYZE` on database `app` of Cluster databases/app-dev-cnpg"
        );
        assert!(plan.writes);
        let read = step
            .plan(&inputs(
                json!({"on": connection("app-dev-cnpg"), "sql": "SELECT 1", "read_only": true}),
            ))
            .unwrap();
        assert!(!read.writes);
        let no_sql = step.plan(&inputs(json!({"on": connection("app-dev-cnpg")})));
        assert!(matches!(no_sql, Err(StepError::Input { name, .. }) if name == "sql"));
    }

    #[tokio::test]
    async fn a_dry_run_writes_no_sql() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, rec) = context(
            json!({"on": connection("app-dev-cnpg"), "sql": "DROP TABLE t"}),
            RunMode::DryRun,
            dir.path(),
        );
        let out = PgExec(Connector::default()).run(&ctx).await.unwrap();
        assert_eq!(out.values["rows"], json!([]));
        assert!(format!("{:?}", rec.events()).contains("dry run: would run `DROP TABLE t`"));
    }
}
