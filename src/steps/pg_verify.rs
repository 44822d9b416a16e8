//! `uses: pg.verify`: compare a refreshed target with its source, object by object (a read).
//!
//! Same schemas, types, extensions, tables, views, materialized views, functions and sequence
//! values; the exact row count of every table; with `checksums: true` a checksum of every
//! table's rows. Both inventories are read concurrently; the source connection is read-only.

use crate::k8s::Connector;
use crate::pg::connect::Target;
use crate::pg::inventory::{self, compare};
use crate::runbook::{InputSpec, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub struct PgVerify(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "pg.verify",
    summary: "compare two databases: objects, sequence values, row counts, optional checksums",
    inputs: &[
        InputSpec {
            name: "source",
            required: true,
            description: "the source `connection` (read-only)",
        },
        InputSpec {
            name: "target",
            required: true,
            description: "the target `connection`",
        },
        InputSpec {
            name: "checksums",
            required: false,
            description: "also compare a checksum of every table (default false)",
        },
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
                "compare {} with {}: schemas, types, tables, views, functions, sequence values, row counts (SELECT count(*) per table){sums}",
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
        let kube = self.0.get().await?;
        let src = s.open(&kube, &ctx.redactor, true).await?;
        let dst = t.open(&kube, &ctx.redactor, false).await?;
        let started = std::time::Instant::now();
        let (a, b) = tokio::join!(
            inventory::read(&src, &s.cluster, sums),
            inventory::read(&dst, &t.cluster, sums)
        );
        let failed = |e: crate::pg::PgError| StepError::Failed(crate::k8s::error::chain(&e));
        let (a, b) = (a.map_err(failed)?, b.map_err(failed)?);
        let diffs = compare(&a, &b);
        if !diffs.is_empty() {
            let shown: Vec<&str> = diffs.iter().take(20).map(String::as_str).collect();
            return Err(StepError::Failed(format!(
                "{} differs from {} in {} place(s): {}",
                t.describe(),
                s.describe(),
                diffs.len(),
                shown.join("; ")
            )));
        }
        ctx.events.log(format!(
            "verified in {:.1}s: {} schemas, {} tables ({} rows{}), {} views, {} materialized views, {} functions, {} sequences, {} types: identical",
            started.elapsed().as_secs_f64(),
            a.schemas.len(),
            a.tables.len(),
            a.total_rows(),
            if sums { ", checksums equal" } else { "" },
            a.views.len(),
            a.matviews.len(),
            a.functions.len(),
            a.sequences.len(),
            a.types.len()
        ));
        for (table, c) in &a.tables {
            ctx.events.log(format!(
                "  {table}: {} rows{}",
                c.rows,
                c.checksum
                    .as_ref()
                    .map(|s| format!(", checksum {s}"))
                    .unwrap_or_default()
            ));
        }
        Ok(Outputs::default()
            .with("tables", a.tables.len())
            .with("rows", a.total_rows())
            .with("sequences", a.sequences.len())
            .with("functions", a.functions.len())
            .with("views", a.views.len() + a.matviews.len())
            .with("checksums", sums))
    }
}
