//! `uses: refresh.job`: the dump/restore Job of a refresh (destructive for the target).
//!
//! Creates the Job (`refresh::job_manifest`) in the target's namespace, follows its Pod's log through
//! the redactor into progress events, phase times and the restore's row counts (`copied_rows`,
//! for `pg.verify`), and waits for its outcome. Idempotent: a resumed or
//! retried step adopts this run's Job if it is still running or already complete, and starts a
//! new one (next attempt number) if it failed — by its condition, or by its failed Pod while
//! the job controller has not written the condition yet — which is safe because a failed
//! atomic restore left the target as it was. `--dry-run` sends the Job with `dryRun=All`: no
//! Pod starts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use k8s_openapi::api::batch::v1::Job;
use kube::api::ListParams;
use kube::Api;
use serde::Serialize;
use serde_json::Value;

use crate::k8s::cluster_access::{self, ClusterAccess};
use crate::k8s::job::{follow, Outcome};
use crate::k8s::{params, Connector, K8sError, Kube, ObjectRef, RUN_ID_LABEL, STEP_LABEL};
use crate::pg::connect::Target;
use crate::pg::sessions::wait_gone;
use crate::pg::snapshot::Snapshot;
use crate::refresh::copied;
use crate::refresh::copy_progress::CopyTracker;
use crate::refresh::job_manifest::{self as manifest, Spec};
use crate::refresh::mask::Masking;
use crate::refresh::phases::{self, PhaseTime, Timeline};
use crate::refresh::pod::{is_quantity, Resources};
use crate::refresh::progress::Tracker;
use crate::refresh::RefreshMode;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct RefreshJob(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "refresh.job",
    summary: "replace a database's contents with another's through a pg_dump/pg_restore Job",
    inputs: &[
        input("source", true, "the source `connection` (dumped read-only)"),
        input(
            "target",
            true,
            "the target `connection` (cleaned and restored)",
        ),
        input(
            "image",
            true,
            "the Job's image (pg_dump/pg_restore of the source's major)",
        ),
        input(
            "jobs",
            false,
            "parallel pg_dump (and, in parallel mode, pg_restore) jobs (default 2)",
        ),
        input(
            "mode",
            false,
            "`stream` (default: the dump piped into one transaction with the clean and restore), `atomic` (the same, the dump to a file first) or `parallel`",
        ),
        input(
            "deadline",
            false,
            "the Job's activeDeadlineSeconds as a duration (default 2h)",
        ),
        input("tables", false, "number of tables, for progress"),
        input("bytes", false, "the source database's size, for progress"),
        input(
            "checksums",
            false,
            "also checksum every table of the snapshot, for pg.verify",
        ),
        input(
            "masking",
            false,
            "masking `{rules, safe}` applied with a coverage gate before the COMMIT",
        ),
        input(
            "prod",
            false,
            "whether the target is production (the engine's prod guard)",
        ),
        input(
            "cpu",
            false,
            "the container's CPU request and limit (default: request 250m, limit 2)",
        ),
        input(
            "memory",
            false,
            "the container's memory request and limit (default: request 256Mi, limit 1Gi)",
        ),
        input(
            "dump_storage_class",
            false,
            "the StorageClass of the dump's generic ephemeral volume (default: the cluster's default)",
        ),
        input(
            "keep_extension_comments",
            false,
            "extensions owned by another role on the target (refresh.preflight's output): their COMMENT is left out of the restore",
        ),
        input(
            "insecure_no_tls",
            false,
            "connect without verifying the servers (`sslmode=prefer`) when a cluster has no CA Secret; default: refuse",
        ),
    ],
    outputs: &[
        "job",
        "mode",
        "atomic",
        "run_id",
        "finished_at",
        "source_inventory",
        "copied_rows",
    ],
    idempotent: true,
};

struct Args {
    source: Target,
    target: Target,
    image: String,
    jobs: u32,
    mode: RefreshMode,
    deadline_secs: i64,
    tables: u64,
    bytes: i64,
    checksums: bool,
    mask_sql: Option<String>,
    resources: Resources,
    insecure_no_tls: bool,
    keep_extension_comments: Vec<String>,
    dump_storage_class: Option<String>,
}

/// An optional list of names (extension names: no spaces, they are joined by spaces).
fn names(i: &Inputs, name: &str) -> Result<Vec<String>, StepError> {
    let Some(v) = i.get(name) else {
        return Ok(Vec::new());
    };
    let list: Vec<String> = serde_json::from_value(v.clone())
        .map_err(|e| StepError::input(name, &format!("expected a list of names: {e}")))?;
    match list
        .iter()
        .find(|n| n.is_empty() || n.contains(char::is_whitespace))
    {
        Some(bad) => Err(StepError::input(name, &format!("`{bad}` is not a name"))),
        None => Ok(list),
    }
}

/// The `mode` input (`stream` when absent), shared with `refresh.preflight`.
pub(super) fn mode(i: &Inputs) -> Result<RefreshMode, StepError> {
    match i.opt_str("mode")? {
        None => Ok(RefreshMode::default()),
        Some(text) => RefreshMode::parse(&text).map_err(|e| StepError::input("mode", &e)),
    }
}

/// An optional quantity input (`cpu`, `memory`); empty means the default.
fn quantity(i: &Inputs, name: &str) -> Result<Option<String>, StepError> {
    match i.opt_str(name)?.filter(|q| !q.is_empty()) {
        Some(q) if !is_quantity(&q) => Err(StepError::input(
            name,
            &format!("`{q}` is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)"),
        )),
        q => Ok(q),
    }
}

fn args(i: &Inputs) -> Result<Args, StepError> {
    let mode = mode(i)?;
    let jobs = match i.get("jobs") {
        Some(_) => i.int("jobs")?,
        None => 2,
    };
    let deadline = match i.get("deadline") {
        Some(_) => i.duration("deadline")?,
        None => std::time::Duration::from_secs(7200),
    };
    Ok(Args {
        source: Target::from_input(i, "source")?,
        target: Target::from_input(i, "target")?,
        image: i.str("image")?,
        jobs: u32::try_from(jobs.clamp(1, 16)).unwrap_or(2),
        mode,
        deadline_secs: deadline.as_secs().max(60) as i64,
        tables: i
            .get("tables")
            .and(i.int("tables").ok())
            .unwrap_or(0)
            .max(0) as u64,
        bytes: i.get("bytes").and(i.int("bytes").ok()).unwrap_or(0).max(0),
        checksums: i.bool_or("checksums", false)?,
        mask_sql: masking(i)?
            .filter(Masking::enabled)
            .map(|m| m.sql().map_err(|e| StepError::input("masking", &e)))
            .transpose()?,
        resources: Resources {
            cpu: quantity(i, "cpu")?,
            memory: quantity(i, "memory")?,
        },
        insecure_no_tls: i.bool_or("insecure_no_tls", false)?,
        keep_extension_comments: names(i, "keep_extension_comments")?,
        dump_storage_class: i.opt_str("dump_storage_class")?.filter(|c| !c.is_empty()),
    })
}

#[async_trait::async_trait]
impl Step for RefreshJob {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        // Before the run the connections are placeholders: the plan still says what a failure
        // leaves behind (atomic or not) before anyone is asked to confirm.
        let mode = mode(inputs)?;
        let side = |name: &str| match Target::from_input(inputs, name) {
            Ok(t) => t.describe(),
            Err(_) => format!("the {name} database"),
        };
        let ns = Target::from_input(inputs, "target")
            .map(|t| format!("namespace {}", t.namespace))
            .unwrap_or_else(|_| "the target's namespace".into());
        Ok(StepPlan {
            description: format!(
                "run a Job in {ns} (image {}) that dumps {} read-only, then cleans {} of every object its owner owns, restores the dump as that owner and analyzes it ({})",
                inputs.opt_str("image")?.unwrap_or_default(),
                side("source"),
                side("target"),
                mode.promise()
            ),
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let a = args(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let run_id = ctx.checkpoint.snapshot().await.run_id;
        let jobs: Api<Job> = Api::namespaced(kube.client.clone(), &a.target.namespace);
        let ns = &a.target.namespace;
        let (found, adopt) = existing(&kube, &jobs, ns, &run_id, &ctx.step_id).await?;
        let mut out = Outputs::default()
            .with("mode", a.mode.promise())
            .with("atomic", a.mode != RefreshMode::Parallel)
            .with("run_id", run_id.clone());
        // An earlier attempt's Job that finished the refresh: the rows it counted, if followed.
        let earlier_finished = match (&found, adopt) {
            (Some(name), Some(Outcome::Complete)) => {
                ctx.events.log(format!(
                    "Job {}/{name} of this run already completed: adopting it",
                    a.target.namespace
                ));
                Some(BTreeMap::new())
            }
            (Some(name), None) => follow_earlier(ctx, &kube, &a, name).await?,
            (Some(name), Some(Outcome::Failed(why) | Outcome::NotStarted(why))) => {
                ctx.events.log(format!(
                    "Job {}/{name} of an earlier attempt failed ({why}): starting a new Job",
                    a.target.namespace
                ));
                None
            }
            _ => None,
        };
        if let (Some(copied), Some(name)) = (earlier_finished, &found) {
            let out = with_copied(ctx, out, &copied).await?;
            return Ok(finished(out, &a, name));
        }
        let (name, snapshot) = if params::dry(ctx.mode) {
            (create(ctx, &kube, &jobs, &a, &run_id, None).await?, None)
        } else {
            let source = a.source.open(&kube, &ctx.redactor, true).await?;
            let snap = Snapshot::export(source, &a.source.cluster)
                .await
                .map_err(pg_failed)?;
            ctx.events.log(format!(
                "exported snapshot {} of {}: pg_dump dumps it, verification compares with it",
                snap.id,
                a.source.describe()
            ));
            (
                create(ctx, &kube, &jobs, &a, &run_id, Some(snap.id.clone())).await?,
                Some(snap),
            )
        };
        if params::dry(ctx.mode) {
            return Ok(finished(out, &a, &name));
        }
        let expected = async {
            match &snapshot {
                Some(s) => Some(s.inventory(a.checksums).await),
                None => None,
            }
        };
        let (outcome, expected) = tokio::select! {
            r = async { tokio::join!(run_job(ctx, &kube, &a, &name), expected) } => r,
            _ = ctx.cancel.cancelled() => return Err(StepError::Cancelled),
        };
        let (phases, copied) = outcome?;
        out = out.with("phases", serde_json::to_value(phases).unwrap_or_default());
        out = with_copied(ctx, out, &copied).await?;
        if let Some(inv) = expected {
            let reference = store(ctx, "source_inventory", &inv.map_err(pg_failed)?).await?;
            out = out.with("source_inventory", reference);
        }
        Ok(finished(out, &a, &name))
    }
}

/// Follows Job `name`, started by an earlier attempt of this step: `Some` when it finished
/// the refresh (or, in a dry run, would be followed), with the rows its restore counted (its
/// Pod's log is read from the start, so they are all there; a table missing from them is
/// counted by `pg.verify`), `None` when it failed before it began and a new Job must start.
async fn follow_earlier(
    ctx: &StepContext,
    kube: &Kube,
    a: &Args,
    name: &str,
) -> Result<Option<BTreeMap<String, i64>>, StepError> {
    ctx.events.log(format!(
        "following Job {}/{name}, started by an earlier attempt",
        a.target.namespace
    ));
    if params::dry(ctx.mode) {
        return Ok(Some(BTreeMap::new()));
    }
    let outcome = tokio::select! {
        r = run_job(ctx, kube, a, name) => r,
        _ = ctx.cancel.cancelled() => return Err(StepError::Cancelled),
    };
    match outcome {
        Ok((_, copied)) => Ok(Some(copied)),
        // The snapshot the earlier attempt exported died with its (killed) process before
        // pg_dump imported it: the Job failed before it began, and the target is as it was
        // (the clean and the restore are one transaction). Start again.
        Err(StepError::Failed(m)) if m.contains("invalid snapshot identifier") => {
            ctx.events.log(format!(
                "Job {}/{name} failed before it began (its snapshot ended with the earlier \
                 process); the target was not touched: starting a new Job",
                a.target.namespace
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `out` with output `copied_rows`: the rows the restore counted, stored beside the run state
/// (none in parallel mode or from a Job adopted complete: `pg.verify` then counts).
async fn with_copied(
    ctx: &StepContext,
    out: Outputs,
    copied: &BTreeMap<String, i64>,
) -> Result<Outputs, StepError> {
    if copied.is_empty() {
        return Ok(out);
    }
    let reference = store(ctx, "copied_rows", copied).await?;
    Ok(out.with("copied_rows", reference))
}

/// Stores `value` (the source's inventory as dumped, the restore's row counts) beside the run
/// state as `<step>.<what>` and returns the reference (per table: megabytes for thousands of
/// tables, too much for the run state itself).
async fn store(ctx: &StepContext, what: &str, value: &impl Serialize) -> Result<Value, StepError> {
    let value = serde_json::to_value(value)
        .map_err(|e| StepError::Failed(format!("failed to encode the {what}: {e}")))?;
    ctx.checkpoint
        .put_artifact(&format!("{}.{what}", ctx.step_id), value)
        .await
        .map_err(|e| {
            StepError::Failed(format!(
                "failed to store the {what}: {}",
                crate::error::chain(&e)
            ))
        })
}

fn pg_failed(e: crate::pg::PgError) -> StepError {
    StepError::Failed(crate::error::chain(&e))
}

fn finished(out: Outputs, a: &Args, name: &str) -> Outputs {
    out.with("job", format!("{}/{name}", a.target.namespace))
        .with(
            "finished_at",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}

/// Follows the Job (log lines through the redactor into progress, PostgreSQL's progress views
/// meanwhile) until it ends; a failure names the Job, its last lines, and what it left.
/// On success, the time of each of the Job's phases (`refresh::phases`) and the rows of each
/// table as the restore's transaction counted them (`refresh::copied`; empty in parallel mode).
async fn run_job(
    ctx: &StepContext,
    kube: &Kube,
    a: &Args,
    name: &str,
) -> Result<(Vec<PhaseTime>, BTreeMap<String, i64>), StepError> {
    let mut tracker = Tracker::new(a.tables);
    let mut timeline = Timeline::new(Instant::now());
    let mut copied = BTreeMap::new();
    let mut tail: Vec<String> = Vec::new();
    let data_copied = AtomicBool::new(false);
    let followed = follow(kube, &a.target.namespace, name, |line| {
        let line = ctx.redactor.redact(line).into_owned();
        timeline.feed(&line, Instant::now());
        if timeline.data_copied() {
            data_copied.store(true, Ordering::Relaxed);
        }
        if let Some((message, done, total)) = tracker.feed(&line) {
            ctx.events.progress(message, Some(done), Some(total));
        }
        let counted = copied::parse(&line).map(|(table, rows)| copied.insert(table, rows));
        if !crate::refresh::progress::chatter(&line)
            && !line.contains(phases::MARKER)
            && counted.is_none()
        {
            ctx.events.log(format!("job: {line}"));
        }
        tail.push(line);
        if tail.len() > 5 {
            tail.remove(0);
        }
    });
    let outcome = tokio::select! {
        o = followed => o?,
        _ = watch(ctx, kube, a, &data_copied) => unreachable!("watch never ends"),
    };
    let why = match outcome {
        Outcome::Complete => {
            let phases = timeline.finish(Instant::now());
            ctx.events
                .log(format!("Job phases: {}", phases::summary(&phases)));
            return Ok((phases, copied));
        }
        Outcome::Failed(why) => why,
        Outcome::NotStarted(why) => {
            return Err(StepError::Failed(format!(
                "the refresh Job {}/{name} could not start: {why}; cnpgops deleted the Job so it cannot start later. {} was not touched",
                a.target.namespace,
                a.target.describe()
            )))
        }
    };
    end_left_sessions(ctx, kube, a).await;
    let left = match a.mode {
        RefreshMode::Atomic | RefreshMode::Stream => format!(
            "{} was left as it was (the clean and restore are one transaction)",
            a.target.describe()
        ),
        RefreshMode::Parallel => format!(
            "{} may be partly restored (parallel mode is not atomic)",
            a.target.describe()
        ),
    };
    Err(StepError::Failed(format!(
        "the refresh Job {}/{name} failed ({why}); last log lines: {}. {left}",
        a.target.namespace,
        tail.join(" | ")
    )))
}

/// Ends the sessions a failed Job left open on the target (found by their application name):
/// when its Pod died mid-restore the server may never learn it (a lost FIN waits for TCP
/// keepalive, two hours), and the open transaction would hold the restore's locks on dev.
/// Ending them rolls that transaction back; this waits until they are gone (a terminated
/// backend lives on while it rolls back). Best effort: a failure is logged.
async fn end_left_sessions(ctx: &StepContext, kube: &Kube, a: &Args) {
    let app =
        crate::refresh::job_manifest::application_name(&ctx.checkpoint.snapshot().await.run_id);
    let ended = async {
        let client = a.target.open(kube, &ctx.redactor, false).await?;
        let failed = |e: tokio_postgres::Error| StepError::Failed(e.to_string());
        let sql = "SELECT coalesce(array_agg(pid) FILTER (WHERE pg_terminate_backend(pid)), '{}') \
                   FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()";
        let pids: Vec<i32> = client.query_one(sql, &[&app]).await.map_err(failed)?.get(0);
        let left = wait_gone(&client, &pids, SESSIONS_GONE)
            .await
            .map_err(failed)?;
        Ok::<(usize, i64), StepError>((pids.len(), left))
    };
    let target = a.target.describe();
    match ended.await {
        Ok((0, _)) => {}
        Ok((n, 0)) => ctx.events.log(format!(
            "ended {n} session(s) the failed Job left open on {target} (their transaction rolled back)"
        )),
        Ok((n, left)) => ctx.events.warn(format!(
            "terminated {n} session(s) the failed Job left open on {target}; {left} still ending after {}s",
            SESSIONS_GONE.as_secs()
        )),
        Err(e) => ctx.events.log(format!(
            "could not end the sessions the failed Job may have left open on {target}: {e}"
        )),
    }
}

/// How long a terminated session may take to roll back and go.
const SESSIONS_GONE: std::time::Duration = std::time::Duration::from_secs(30);

/// This run's newest Job of this step and its outcome (`None`: still running).
async fn existing(
    kube: &Kube,
    jobs: &Api<Job>,
    ns: &str,
    run_id: &str,
    step: &str,
) -> Result<(Option<String>, Option<Outcome>), StepError> {
    let selector = format!("{RUN_ID_LABEL}={run_id},{STEP_LABEL}={step}");
    let object = ObjectRef::new("Job", Some(ns), &format!("(labels {selector})"));
    let mut list = jobs
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(K8sError::api("list", &object))?
        .items;
    list.sort_by_key(|j| j.metadata.creation_timestamp.clone().map(|t| t.0));
    let Some(job) = list.pop() else {
        return Ok((None, Some(Outcome::Failed(String::new()))));
    };
    let outcome = crate::k8s::job::settled(kube, &job).await?;
    Ok((job.metadata.name.clone(), outcome))
}

async fn create(
    ctx: &StepContext,
    kube: &Kube,
    jobs: &Api<Job>,
    a: &Args,
    run_id: &str,
    snapshot: Option<String>,
) -> Result<String, StepError> {
    let source = verified_access(ctx, kube, &a.source, a.insecure_no_tls).await?;
    let target = verified_access(ctx, kube, &a.target, a.insecure_no_tls).await?;
    let mut pull_secrets = target.pull_secrets;
    if a.source.namespace == a.target.namespace {
        pull_secrets.extend(source.pull_secrets);
    }
    let spec = Spec {
        name: manifest::name(&a.target.cluster, run_id, ctx.attempt),
        run_id: run_id.into(),
        step: ctx.step_id.clone(),
        image: a.image.clone(),
        source_ca: source.server_ca,
        target_ca: target.server_ca,
        pull_secrets,
        resources: a.resources.clone(),
        source_bytes: u64::try_from(a.bytes).unwrap_or(0),
        source: a.source.clone(),
        target: a.target.clone(),
        jobs: a.jobs,
        mode: a.mode,
        deadline_secs: a.deadline_secs,
        snapshot,
        mask_sql: a.mask_sql.clone(),
        keep_extension_comments: a.keep_extension_comments.clone(),
        dump_storage_class: a.dump_storage_class.clone(),
    };
    let job: Job = serde_json::from_value(manifest::manifest(&spec))
        .map_err(|e| StepError::Failed(format!("failed to build the Job: {e}")))?;
    let object = ObjectRef::new("Job", Some(&a.target.namespace), &spec.name);
    jobs.create(&params::post(ctx.mode), &job)
        .await
        .map_err(K8sError::api("create", &object))?;
    let verb = if params::dry(ctx.mode) {
        "dry run: server accepted creating"
    } else {
        "created"
    };
    ctx.events.log(format!(
        "{verb} {object}: pg_dump -Fd -j{} of {} (read-only), then {}; credentials from Secrets {} and {} by secretKeyRef",
        a.jobs,
        a.source.describe(),
        a.mode.promise(),
        a.source.secret,
        a.target.secret
    ));
    Ok(spec.name)
}

/// The Cluster's server CA Secret and pull secrets; without a CA, a refusal unless
/// `insecure_no_tls` (then a loud log line): never plaintext by surprise.
pub(super) async fn verified_access(
    ctx: &StepContext,
    kube: &Kube,
    t: &Target,
    insecure_no_tls: bool,
) -> Result<ClusterAccess, StepError> {
    let found = cluster_access::read(kube, &t.namespace, &t.cluster).await?;
    if found.server_ca.is_none() {
        let why = format!("{}: {}", t.describe(), found.missing_ca);
        if !insecure_no_tls {
            return Err(StepError::Refused(no_tls_refusal(&why)));
        }
        ctx.events.log(format!(
            "WARNING: --insecure-no-tls: {why}; the Job connects without verifying the server (sslmode=prefer)"
        ));
    }
    Ok(found)
}

/// The refusal when a cluster has no CA to verify it with.
pub(super) fn no_tls_refusal(why: &str) -> String {
    format!("refused: cannot verify the server's TLS certificate of {why}; cnpgops never falls back to an unverified or plaintext connection by itself: pass --insecure-no-tls (runbook param `insecure_no_tls: true`) for a cluster without TLS. Nothing was changed")
}

/// Every 2s, PostgreSQL's progress views on both sides as progress events (bytes and rows per
/// table, the total of the source's size with an ETA, index builds: `refresh::copy_progress`);
/// never returns. A side it cannot watch is left alone. `data_copied`: the Job's phase markers
/// went past the data copy.
async fn watch(ctx: &StepContext, kube: &Kube, a: &Args, data_copied: &AtomicBool) {
    let src = a.source.open(kube, &ctx.redactor, true).await.ok();
    let dst = a.target.open(kube, &ctx.redactor, false).await.ok();
    let total = u64::try_from(a.bytes).ok().filter(|b| *b > 0);
    let (t0, mut trackers) = (
        Instant::now(),
        [CopyTracker::default(), CopyTracker::default()],
    );
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        for ((side, client), tracker) in [("dump", &src), ("restore", &dst)]
            .into_iter()
            .zip(trackers.iter_mut())
        {
            let Some(client) = client else { continue };
            if side == "restore" && data_copied.load(Ordering::Relaxed) {
                tracker.data_copied();
            }
            let Ok(r) = crate::pg::progress::read(client).await else {
                continue;
            };
            if let Some(line) = tracker.update(side, &r, t0.elapsed(), total) {
                ctx.events
                    .progress(line.message, Some(line.done), line.total);
            }
        }
    }
}

/// The `masking` input, when given.
pub(super) fn masking(i: &Inputs) -> Result<Option<Masking>, StepError> {
    i.get("masking")
        .map(|v| {
            serde_json::from_value(v.clone())
                .map_err(|e| StepError::input("masking", &format!("expected {{rules, safe}}: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::testing::{connection, inputs};
    use serde_json::json;

    fn with(extra: Value) -> Inputs {
        let mut base = json!({"source": connection("app-cnpg"), "target": connection("app-dev-cnpg"),
            "image": "ghcr.io/cloudnative-pg/postgresql:15"});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        inputs(base)
    }

    #[test]
    fn defaults_and_bounds_of_the_jobs_inputs() {
        let a = args(&with(json!({}))).unwrap();
        assert_eq!(
            (a.jobs, a.mode, a.deadline_secs),
            (2, RefreshMode::Stream, 7200)
        );
        assert!(!a.checksums && !a.insecure_no_tls && a.mask_sql.is_none());
        assert_eq!(a.dump_storage_class, None);
        let a = args(&with(
            json!({"jobs": "0", "deadline": "5s", "mode": "parallel"}),
        ))
        .unwrap();
        assert_eq!(
            (a.jobs, a.deadline_secs),
            (1, 60),
            "at least one job, one minute"
        );
        assert_eq!(a.mode, RefreshMode::Parallel);
        assert_eq!(args(&with(json!({"jobs": 64}))).unwrap().jobs, 16);
        let empty = args(&with(json!({"dump_storage_class": "", "cpu": ""}))).unwrap();
        assert_eq!(
            (empty.dump_storage_class, empty.resources.cpu),
            (None, None)
        );
    }

    #[test]
    fn bad_inputs_are_named() {
        let named = |extra: Value| match args(&with(extra)) {
            Err(StepError::Input { name, .. }) => name,
            other => panic!("expected an input error, got {:?}", other.map(|a| a.jobs)),
        };
        assert_eq!(named(json!({"mode": "fast"})), "mode");
        assert_eq!(named(json!({"cpu": "two cores"})), "cpu");
        assert_eq!(named(json!({"memory": "1 GB"})), "memory");
        assert_eq!(
            named(json!({"keep_extension_comments": ["pg_trgm", "a b"]})),
            "keep_extension_comments"
        );
        assert_eq!(
            named(json!({"keep_extension_comments": "pg_trgm"})),
            "keep_extension_comments"
        );
        assert_eq!(named(json!({"deadline": "later"})), "deadline");
        assert_eq!(named(json!({"target": "app-dev"})), "target");
    }

    #[test]
    fn the_plan_says_what_a_failure_leaves_even_before_the_connections_are_known() {
        let step = RefreshJob(Connector::default());
        let known = step.plan(&with(json!({"prod": "false"}))).unwrap();
        assert!(known.description.starts_with(
            "run a Job in namespace databases (image ghcr.io/cloudnative-pg/postgresql:15) that dumps database `app` of Cluster databases/app-cnpg read-only"
        ));
        assert!(known
            .description
            .ends_with(&format!("({})", RefreshMode::Stream.promise())));
        assert!(known.writes && !known.prod);
        let placeholders = step
            .plan(&inputs(
                json!({"source": "<steps.source.outputs.connection>",
                "target": "<steps.target.outputs.connection>", "mode": "parallel"}),
            ))
            .unwrap();
        assert!(placeholders
            .description
            .contains("run a Job in the target's namespace"));
        assert!(placeholders
            .description
            .contains("dumps the source database read-only, then cleans the target database"));
        assert!(placeholders.description.contains("NOT atomic"));
        assert!(step.plan(&with(json!({"mode": "fast"}))).is_err());
    }
}
