//! `uses: pg.verify`: compare a refreshed target with its source, object by object (a read).
//!
//! Same schemas, types, extensions, tables, views, materialized views, functions and sequence
//! values; the same definitions of every index, constraint, trigger, policy, row-security flag
//! and column (type, not null, default, identity, generated); the exact row count of every
//! table — the target's as the restore's transaction counted them when refresh.job gives them
//! (`copied`, see `refresh::copied`), else `count(*)`; with `checksums: true` a checksum of
//! every table's rows (every row read on both sides). Both inventories are read concurrently;
//! the source connection is read-only.
//! In `--dry-run` (nothing was restored) differences are reported, not failed on.

use std::collections::BTreeMap;

use crate::engine::checkpoint::artifact::ArtifactRef;
use crate::k8s::Connector;
use crate::pg::connect::Target;
use crate::pg::inventory::{self, compare_masked, Rows};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct PgVerify(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "pg.verify",
    summary: "compare two databases: objects, sequence values, row counts, optional checksums",
    inputs: &[
        input("source", true, "the source `connection` (read-only)"),
        input("target", true, "the target `connection`"),
        input("expected", false, "the source's inventory as dumped (refresh.job's `source_inventory`); default: read the source now"),
        input("masking", false, "masking `{rules, safe}`: masked tables' checksums are not compared"),
        input("checksums", false, "also compare a checksum of every table (default false)"),
        input("copied", false, "the target's rows per table as the restore's transaction counted them (refresh.job's `copied_rows`): those tables are not counted again; ignored with checksums"),
    ],
    outputs: &[
        "tables",
        "rows",
        "sequences",
        "functions",
        "views",
        "checksums",
    ],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for PgVerify {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let (s, t) = (
            Target::from_input(inputs, "source")?,
            Target::from_input(inputs, "target")?,
        );
        let sums = if inputs.bool_or("checksums", false)? {
            ", checksums (SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY ...)) per table)"
        } else {
            ""
        };
        Ok(StepPlan {
            description: format!(
                "compare {} with {}: schemas, types, tables, views, functions, sequence values, definitions (indexes, constraints, triggers, policies, columns), row counts (SELECT count(*) per table){sums}",
                t.describe(),
                s.describe()
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (s, t) = (
            Target::from_input(&ctx.inputs, "source")?,
            Target::from_input(&ctx.inputs, "target")?,
        );
        let sums = ctx.inputs.bool_or("checksums", false)?;
        let copied: BTreeMap<String, i64> = match sums {
            true => BTreeMap::new(),
            false => artifact_input(ctx, "copied", "the restore's row counts")
                .await?
                .unwrap_or_default(),
        };
        let rows = match copied.is_empty() {
            true => Rows::counts_or_checksums(sums),
            false => Rows::Counted(&copied),
        };
        let kube = self.0.get().await?;
        let dst = t.open(&kube, &ctx.redactor, false).await?;
        let started = std::time::Instant::now();
        let failed = |e: crate::pg::PgError| StepError::Failed(crate::error::chain(&e));
        let expected = artifact_input(ctx, "expected", "the source's inventory as dumped");
        let (a, b) = match expected.await? {
            Some(a) => {
                ctx.events.log(format!(
                    "comparing with {} as dumped (the exported snapshot)",
                    s.describe()
                ));
                (
                    a,
                    inventory::read(&dst, &t.cluster, rows)
                        .await
                        .map_err(failed)?,
                )
            }
            None => {
                ctx.events.warn(format!("no snapshot inventory: comparing with {} as it is now (it may have changed since the dump)", s.describe()));
                let src = s.open(&kube, &ctx.redactor, true).await?;
                let (a, b) = tokio::join!(
                    inventory::read(&src, &s.cluster, Rows::counts_or_checksums(sums)),
                    inventory::read(&dst, &t.cluster, rows)
                );
                (a.map_err(failed)?, b.map_err(failed)?)
            }
        };
        if !copied.is_empty() {
            let taken = b.tables.keys().filter(|t| copied.contains_key(*t)).count();
            ctx.events.log(format!(
                "{}: {taken} tables' rows as the restore's transaction counted them (not read again; partitioned tables as the sum of their partitions)",
                t.describe()
            ));
        }
        let masked = super::refresh_job::masking(&ctx.inputs)?
            .map(|m| m.masked_tables())
            .unwrap_or_default();
        let diffs = compare_masked(&a, &b, &masked);
        if !diffs.is_empty() && crate::k8s::params::dry(ctx.mode) {
            ctx.events.log(format!(
                "dry run: {} differs from {} in {} place(s) (expected before a refresh): {}",
                t.describe(),
                s.describe(),
                diffs.len(),
                diffs.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ));
        } else if !diffs.is_empty() {
            let shown: Vec<&str> = diffs.iter().take(20).map(String::as_str).collect();
            return Err(StepError::Failed(format!(
                "{} differs from {} in {} place(s): {}",
                t.describe(),
                s.describe(),
                diffs.len(),
                shown.join("; ")
            )));
        }
        report(ctx, &a, sums, started.elapsed());
        Ok(Outputs::default()
            .with("tables", a.tables.len())
            .with("rows", a.total_rows())
            .with("sequences", a.sequences.len())
            .with("functions", a.functions.len())
            .with("views", a.views.len() + a.matviews.len())
            .with("checksums", sums))
    }
}

/// The summary and one line per table.
fn report(ctx: &StepContext, a: &inventory::Inventory, sums: bool, took: std::time::Duration) {
    ctx.events.log(format!(
            "verified in {:.1}s: {} schemas, {} tables ({} rows{}), {} views, {} materialized views, {} functions, {} sequences, {} types, {} definitions: identical",
            took.as_secs_f64(),
            a.schemas.len(),
            a.tables.len(),
            a.total_rows(),
            if sums { ", checksums equal" } else { "" },
            a.views.len(),
            a.matviews.len(),
            a.functions.len(),
            a.sequences.len(),
            a.types.len(),
            a.definitions.as_ref().map_or(0, |d| d.len())
        ));
    const SHOWN: usize = 100;
    for (table, c) in a.tables.iter().take(SHOWN) {
        ctx.events.log(format!(
            "  {table}: {} rows{}",
            c.rows,
            c.checksum
                .as_ref()
                .map(|s| format!(", checksum {s}"))
                .unwrap_or_default()
        ));
    }
    if a.tables.len() > SHOWN {
        ctx.events
            .log(format!("  ... and {} more tables", a.tables.len() - SHOWN));
    }
}

/// Input `name` (`what`), when given: inline (an older run's checkpoint) or, as refresh.job
/// stores it, an artifact reference.
async fn artifact_input<T: serde::de::DeserializeOwned>(
    ctx: &StepContext,
    name: &str,
    what: &str,
) -> Result<Option<T>, StepError> {
    let Some(v) = ctx.inputs.get(name) else {
        return Ok(None);
    };
    let value = match ArtifactRef::from_value(v) {
        Some(reference) => ctx.checkpoint.artifact(&reference).await.map_err(|e| {
            StepError::Failed(format!(
                "failed to read {what}: {}",
                crate::error::chain(&e)
            ))
        })?,
        None => v.clone(),
    };
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| StepError::input(name, &format!("not {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::steps::testing::{connection, context, inputs};
    use serde_json::json;

    #[test]
    fn the_plan_compares_target_with_source_and_says_when_it_checksums() {
        let step = PgVerify(Connector::default());
        let counts = step
            .plan(&inputs(
                json!({"source": connection("app-cnpg"), "target": connection("app-dev-cnpg")}),
            ))
            .unwrap();
        assert!(counts.description.starts_with(
            "compare database `app` of Cluster databases/app-dev-cnpg with database `app` of Cluster databases/app-cnpg:"
        ));
        assert!(!counts.description.contains("checksums"));
        assert!(!counts.writes);
        let sums = step
            .plan(&inputs(
                json!({"source": connection("a"), "target": connection("b"), "checksums": "true"}),
            ))
            .unwrap();
        assert!(sums
            .description
            .contains(", checksums (SELECT count(*), md5("));
        let one_side = step.plan(&inputs(json!({"source": connection("a")})));
        assert!(matches!(one_side, Err(StepError::Input { name, .. }) if name == "target"));
    }

    #[tokio::test]
    async fn the_expected_inventory_is_read_inline_or_refused_when_it_is_not_one() {
        async fn inv(ctx: &StepContext) -> Result<Option<inventory::Inventory>, StepError> {
            artifact_input(ctx, "expected", "an inventory").await
        }
        let dir = tempfile::tempdir().unwrap();
        let mut dumped = inventory::Inventory::default();
        dumped.tables.insert(
            "public.orders".into(),
            inventory::Contents {
                rows: 3,
                checksum: None,
            },
        );
        let inline = json!({"expected": serde_json::to_value(&dumped).unwrap()});
        let (ctx, _) = context(inline, RunMode::Real, dir.path());
        assert_eq!(inv(&ctx).await.unwrap(), Some(dumped));

        let (ctx, _) = context(json!({}), RunMode::Real, dir.path());
        assert_eq!(inv(&ctx).await.unwrap(), None);

        let (ctx, _) = context(
            json!({"expected": {"tables": 3}}),
            RunMode::Real,
            dir.path(),
        );
        let err = inv(&ctx).await.unwrap_err();
        assert!(matches!(err, StepError::Input { name, .. } if name == "expected"));
    }
}
