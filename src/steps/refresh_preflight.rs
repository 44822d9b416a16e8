//! `uses: refresh.preflight`: the checks before a refresh touches anything.
//!
//! Connects to both databases (the source read-only) and refuses (exit 3) when the pg_dump /
//! pg_restore image cannot serve the pair (its major must be at least the source server's and
//! at most the target server's), when the target's data volume has too little free space for
//! the source database with a margin (measured by a read-only probe Pod, [`space`]), when the
//! single transaction would overflow the target's lock table (`max_locks_per_transaction`),
//! when the source has an extension the target's owner cannot create, when the target holds
//! objects its owner cannot drop (owned by another role: the clean would leave them behind),
//! or when a cluster has no CA Secret to verify its TLS with and `insecure_no_tls` was not
//! given. Its only write is the probe Job (deleted after; not started in `--dry-run`).

use serde_json::Value;

use crate::k8s::Connector;
use crate::pg::connect::Target;
use crate::pg::extensions;
use crate::pg::locks::{self, LockTable, Objects};
use crate::refresh::RefreshMode;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

mod space;

pub(super) struct RefreshPreflight(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "refresh.preflight",
    summary: "check a dump/restore refresh can work: versions, storage, object owners",
    inputs: &[
        input("source", true, "the source `connection` (read-only)"),
        input("target", true, "the target `connection`"),
        input("image", true, "the Job's image: its tag's major is pg_dump/pg_restore's"),
        input("target_storage_bytes", false, "the target Cluster's storage size"),
        input("mode", false, "the restore mode (`stream` default, `atomic`, `parallel`): the lock check counts the restore's locks unless `parallel`"),
        input("insecure_no_tls", false, "allow clusters without a CA Secret (the Job will not verify them)"),
    ],
    outputs: &[
        "source_bytes",
        "source_major",
        "target_major",
        "tables",
        "keep_extension_comments",
    ],
    idempotent: true,
};

const FOREIGN: &str = "SELECT n.nspname || '.' || c.relname FROM pg_class c \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT LIKE 'pg\\_%' \
      AND n.nspname <> 'information_schema' AND NOT pg_has_role(c.relowner, 'USAGE') \
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                      AND d.objid = c.oid AND d.deptype = 'e') \
    ORDER BY 1 LIMIT 20";

const FACTS: &str = "SELECT current_setting('server_version_num')::int / 10000, \
    pg_database_size(current_database()), \
    (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
      WHERE c.relkind IN ('r','p','m') AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema')";

#[async_trait::async_trait]
impl Step for RefreshPreflight {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let (s, t) = (
            Target::from_input(inputs, "source")?,
            Target::from_input(inputs, "target")?,
        );
        Ok(StepPlan {
            description: format!(
                "check {} (read-only) can be restored into {}: versions, storage, lock table, owners ({FACTS}; {FOREIGN}; {})",
                s.describe(),
                t.describe(),
                locks::CATALOG
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
        check_namespaces(&s, &t)?;
        let kube = self.0.get().await?;
        let insecure = ctx.inputs.bool_or("insecure_no_tls", false)?;
        super::refresh_job::verified_access(ctx, &kube, &s, insecure).await?;
        let access = super::refresh_job::verified_access(ctx, &kube, &t, insecure).await?;
        let src = s.open(&kube, &ctx.redactor, true).await?;
        let dst = t.open(&kube, &ctx.redactor, false).await?;
        let sf = src
            .query_one(FACTS, &[])
            .await
            .map_err(pg_failed("read the source's size and version"))?;
        let tf = dst
            .query_one(FACTS, &[])
            .await
            .map_err(pg_failed("read the target's version"))?;
        let (src_major, src_bytes, tables): (i32, i64, i64) = (sf.get(0), sf.get(1), sf.get(2));
        let dst_major: i32 = tf.get(0);
        let image = ctx.inputs.str("image")?;
        let tool = super::cnpg_cluster::image_major(&image).ok_or_else(|| {
            StepError::Refused(format!(
                "refused: cannot tell the major version of pg_dump in image `{image}` (no version tag); pass --image with a tag like `:{src_major}`. Nothing was changed"
            ))
        })? as i64;
        check_versions(i64::from(src_major), tool, i64::from(dst_major))?;
        let space = space::Space {
            target: &t,
            source_bytes: src_bytes,
            capacity: ctx
                .inputs
                .get("target_storage_bytes")
                .and(ctx.inputs.int("target_storage_bytes").ok()),
            image: &image,
            pull_secrets: access.pull_secrets,
        };
        space::check(ctx, &kube, space).await?;
        let mode = super::refresh_job::mode(&ctx.inputs)?;
        check_clean(&src, &dst, &t, mode).await?;
        let keep = check_extensions(ctx, &src, &dst, &t).await?;
        ctx.events.log(format!(
            "source: PostgreSQL {src_major}, {} in {tables} tables; target: PostgreSQL {dst_major}; pg_dump/pg_restore {tool}",
            human_bytes(src_bytes)
        ));
        Ok(Outputs::default()
            .with("source_bytes", src_bytes)
            .with("source_major", src_major)
            .with("target_major", dst_major)
            .with("tables", Value::from(tables))
            .with("keep_extension_comments", keep))
    }
}

/// A PostgreSQL error while the preflight tries to `what`.
fn pg_failed(what: &str) -> impl Fn(tokio_postgres::Error) -> StepError {
    let what = what.to_string();
    move |e| StepError::Failed(format!("failed to {what}: {e}"))
}

/// The clean and restore can finish: the target's lock table holds both databases' objects
/// ([`check_locks`]), and the target's owner can drop everything in it.
async fn check_clean(
    src: &tokio_postgres::Client,
    dst: &tokio_postgres::Client,
    t: &Target,
    mode: RefreshMode,
) -> Result<(), StepError> {
    let objects = |c, side: &'static str| async move {
        locks::objects(c)
            .await
            .map_err(pg_failed(&format!("count the {side}'s objects")))
    };
    let (so, to) = (objects(src, "source").await?, objects(dst, "target").await?);
    let table = locks::table(dst)
        .await
        .map_err(pg_failed("read the target's lock settings"))?;
    check_locks(t, mode, so, to, table)?;
    let foreign: Vec<String> = dst
        .query(FOREIGN, &[])
        .await
        .map_err(pg_failed("list the target's objects"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !foreign.is_empty() {
        return Err(StepError::Refused(format!(
                "refused: {} holds objects its owner cannot drop (owned by another role): {}; the clean would leave them behind. Nothing was changed",
                t.describe(),
                foreign.join(", ")
            )));
    }
    Ok(())
}

/// pg_dump must be at least the source's major; the target must be at least the dump's.
pub(super) fn check_versions(source: i64, tool: i64, target: i64) -> Result<(), StepError> {
    if tool < source {
        return Err(StepError::Refused(format!(
            "refused: major version mismatch: pg_dump {tool} cannot dump a PostgreSQL {source} server; use an image of major {source} or newer. Nothing was changed"
        )));
    }
    if target < tool {
        return Err(StepError::Refused(format!(
            "refused: major version mismatch: a dump made by pg_dump {tool} (source PostgreSQL {source}) cannot be restored reliably into PostgreSQL {target}. Nothing was changed"
        )));
    }
    Ok(())
}

/// The source's extensions against the target's (see `pg::extensions`): refused when one
/// cannot be created; the names whose `COMMENT` the restore must leave out.
async fn check_extensions(
    ctx: &StepContext,
    src: &tokio_postgres::Client,
    dst: &tokio_postgres::Client,
    t: &Target,
) -> Result<Vec<String>, StepError> {
    let failed = |e: tokio_postgres::Error| {
        StepError::Failed(format!("failed to compare the extensions: {e}"))
    };
    let source = extensions::list(src).await.map_err(failed)?;
    let target = extensions::list(dst).await.map_err(failed)?;
    let plan = extensions::plan(&source, &target, dst)
        .await
        .map_err(failed)?;
    if !plan.impossible.is_empty() {
        return Err(StepError::Refused(format!(
            "refused: the source has extensions that {} lacks and its owner cannot create: {}. Create them there as a superuser first (CNPG: `spec.bootstrap.initdb.postInitApplicationSQL` of a new Cluster, or a Database resource's `spec.extensions`; or `CREATE EXTENSION ...` as postgres). Nothing was changed",
            t.describe(),
            plan.impossible.join(", ")
        )));
    }
    for name in &plan.differing_comments {
        ctx.events.warn(format!(
            "extension {name} on {} belongs to another role (a superuser): the source's COMMENT ON EXTENSION {name} differs and cannot be restored as the owner; the target's comment stays",
            t.describe()
        ));
    }
    if !plan.keep_comments.is_empty() {
        ctx.events.log(format!(
            "extensions owned by another role on the target, kept as they are (their COMMENT left out of the restore): {}",
            plan.keep_comments.join(", ")
        ));
    }
    Ok(plan.keep_comments)
}

/// The one transaction must fit the target's lock table (see `pg::locks`): refused up front,
/// with the setting to change, instead of "out of shared memory" mid-restore.
pub(super) fn check_locks(
    t: &Target,
    mode: RefreshMode,
    source: Objects,
    target: Objects,
    table: LockTable,
) -> Result<(), StepError> {
    let in_transaction = mode != RefreshMode::Parallel;
    let needed = locks::needed(target, source, in_transaction);
    if needed <= table.capacity() {
        return Ok(());
    }
    let clean = target.relations + target.others;
    let what = if in_transaction {
        format!(
            "the single-transaction restore would hold about {needed} locks ({clean} to clean the target's objects, {} to create the source's relations)",
            source.relations
        )
    } else {
        format!("the clean (one transaction) would hold about {needed} locks")
    };
    let alternative = if in_transaction && clean <= table.capacity() {
        ", or use --mode parallel (NOT atomic: only its clean is one transaction)"
    } else {
        ""
    };
    Err(StepError::Refused(format!(
        "refused: {what} on Cluster {ns}/{c}, more than its lock table holds: max_locks_per_transaction {} x (max_connections {} + max_prepared_transactions {}) = {} locks. Set spec.postgresql.parameters.max_locks_per_transaction to at least {} on Cluster {ns}/{c} (CNPG restarts the instances to apply it){alternative}. Nothing was changed",
        table.per_transaction,
        table.connections,
        table.prepared,
        table.capacity(),
        table.suggest(needed),
        ns = t.namespace,
        c = t.cluster,
    )))
}

pub(super) use crate::refresh::copy_progress::human_bytes;

/// The refresh Job runs in the target's namespace and reads the source's credentials through
/// `secretKeyRef`, which only reaches Secrets of the Pod's own namespace: refused up front
/// instead of a Pod stuck in `CreateContainerConfigError`.
fn check_namespaces(s: &Target, t: &Target) -> Result<(), StepError> {
    if s.namespace == t.namespace {
        return Ok(());
    }
    Err(StepError::Refused(format!(
        "refused: the source ({}) and the target ({}) are in different namespaces; the refresh Job runs in `{}` and a Pod can only read Secrets of its own namespace, so it could not read the source's credentials (Secret {}/{}). Keep both Clusters in one namespace (the profile's cluster_namespace). Nothing was changed",
        s.describe(),
        t.describe(),
        t.namespace,
        s.namespace,
        s.secret
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            namespace: "db".into(),
            cluster: "c".into(),
            pod: "c-1".into(),
            database: "app".into(),
            secret: "s".into(),
        }
    }

    #[test]
    fn versions_the_tool_cannot_serve_are_refused() {
        assert!(check_versions(15, 15, 15).is_ok());
        assert!(check_versions(15, 16, 16).is_ok());
        assert!(matches!(
            check_versions(16, 15, 16),
            Err(StepError::Refused(_))
        ));
        let err = check_versions(16, 16, 15).unwrap_err().to_string();
        assert!(err.contains("PostgreSQL 15"), "{err}");
    }

    #[test]
    fn clusters_in_two_namespaces_are_refused_before_anything_runs() {
        let t = |ns: &str| Target {
            namespace: ns.into(),
            cluster: "c".into(),
            pod: "c-1".into(),
            database: "app".into(),
            secret: "s".into(),
        };
        assert!(check_namespaces(&t("db"), &t("db")).is_ok());
        let err = check_namespaces(&t("prod-db"), &t("dev-db")).unwrap_err();
        assert!(matches!(err, StepError::Refused(_)));
        let text = err.to_string();
        assert!(
            text.contains("Secret prod-db/s") && text.contains("`dev-db`"),
            "{text}"
        );
    }

    #[test]
    fn a_restore_the_lock_table_cannot_hold_is_refused_naming_the_setting() {
        let t = target();
        let side = Objects {
            relations: 3000,
            others: 2500,
        };
        let table = LockTable {
            per_transaction: 64,
            connections: 100,
            prepared: 0,
        };
        let err = check_locks(&t, RefreshMode::Atomic, side, side, table)
            .unwrap_err()
            .to_string();
        for part in [
            "about 8500 locks",
            "max_locks_per_transaction 64 x (max_connections 100",
            "= 6400 locks",
            "spec.postgresql.parameters.max_locks_per_transaction to at least 128 on Cluster db/c",
            "--mode parallel",
        ] {
            assert!(err.contains(part), "missing `{part}` in {err}");
        }
        assert!(check_locks(&t, RefreshMode::Parallel, side, side, table).is_ok());
        let small = Objects {
            relations: 10,
            others: 10,
        };
        assert!(check_locks(&t, RefreshMode::Stream, small, small, table).is_ok());
    }

    #[test]
    fn storage_needs_a_margin() {
        let t = target();
        assert!(space::enough(100, 150, &t, "measured").is_ok());
        let err = space::enough(100 << 20, 120 << 20, &t, "claim x on node y")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("db/c") && err.contains("120.0 MiB free") && err.contains("150.0 MiB"),
            "{err}"
        );
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
