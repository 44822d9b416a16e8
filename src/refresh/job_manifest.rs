//! The refresh Job: `pg_dump` from the source (read-only) into a generic ephemeral volume
//! sized from the source database (a claim of its own, not the node's disk), then the restore
//! into the target, credentials only through `secretKeyRef`.
//!
//! In `atomic` and `parallel` modes the dump finishes before the target is touched, so a
//! failed dump changes nothing. `stream` pipes the dump straight into the restore's
//! transaction (no intermediate file, dump and restore overlap): a failed dump rolls the whole
//! transaction back, so it too leaves the target as it was, but the target is locked while the
//! source is read. The
//! target is cleaned of every object its owner owns (`DROP OWNED BY CURRENT_USER`: tables
//! only dev had go too) and restored with `--no-owner --no-privileges` as that owner, so
//! everything belongs to the target's owner and its credentials stay what they were (gotcha:
//! without `--no-privileges`, GRANTs to roles missing on the target make pg_restore exit 1).

use serde_json::{json, Value};

use super::phases;
use super::pod::{self, Resources, DUMP_DIR, TMP_DIR, TMP_LIMIT};
use super::RefreshMode;
use crate::k8s::{MANAGED_BY, RUN_ID_LABEL, STEP_LABEL};
use crate::pg::connect::Target;

/// Marker lines the script prints (progress reads them).
pub(crate) const DUMP_START: &str = "cnpgops: dump started";
pub(crate) const DUMP_DONE: &str = "cnpgops: dump finished";
/// Printed when the restore starts (the log line tests wait for before interrupting one).
pub const RESTORE_START: &str = "cnpgops: restore started";
pub(crate) const RESTORE_DONE: &str = "cnpgops: restore finished";

/// The SQL that empties the target, run in the restore's transaction.
pub(crate) const CLEAN_SQL: &str = "SET client_min_messages = warning; DROP OWNED BY CURRENT_USER CASCADE; CREATE SCHEMA IF NOT EXISTS public;";

/// Statistics for every table the restore made (after masking: `pg_statistic` keeps sample
/// values), in the restore's transaction in atomic and stream modes: committed with the data,
/// and cheaper than after the COMMIT, when the first read of each sampled page also sets its
/// rows' hint bits (writing the page again). Partitions through their top table.
pub(crate) const ANALYZE_SQL: &str = "DO $$DECLARE r record; BEGIN FOR r IN \
     SELECT c.oid::regclass AS t FROM pg_class c WHERE c.relkind IN ('r','p','m') \
     AND NOT c.relispartition AND pg_get_userbyid(c.relowner) = current_user \
     AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) \
     AND (c.relkind <> 'm' OR c.relispopulated) ORDER BY 1 \
     LOOP EXECUTE format('ANALYZE %s', r.t); END LOOP; END$$;";

/// Everything the Job is made from.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub name: String,
    pub run_id: String,
    pub step: String,
    pub image: String,
    pub source: Target,
    pub target: Target,
    /// The Secrets holding each server's CA (`ca.crt` only is mounted): the Job connects with
    /// `sslmode=verify-full` to `<cluster>-rw.<ns>.svc`. `None` only with `--insecure-no-tls`
    /// (the step refuses otherwise): `sslmode=prefer`, the server not authenticated.
    pub source_ca: Option<String>,
    pub target_ca: Option<String>,
    /// The Clusters' `imagePullSecrets`, copied onto the Pod.
    pub pull_secrets: Vec<String>,
    pub resources: Resources,
    /// The source database's size: the dump emptyDir's `sizeLimit` follows it.
    pub source_bytes: u64,
    pub jobs: u32,
    pub mode: RefreshMode,
    pub deadline_secs: i64,
    /// A snapshot exported by cnpgops on the source for pg_dump to use (`--snapshot`).
    pub snapshot: Option<String>,
    /// Masking UPDATEs and coverage gate, run before the COMMIT (see `refresh::mask`).
    pub mask_sql: Option<String>,
    /// Extensions owned by another role on the target: their `COMMENT ON EXTENSION` is left
    /// out of the restore (the owner may not comment on them; see `pg::extensions`).
    pub keep_extension_comments: Vec<String>,
    /// The dump volume's StorageClass (`None`: the cluster's default).
    pub dump_storage_class: Option<String>,
}

/// A Job name from the target cluster, the run id's random part and the attempt.
pub(crate) fn name(target_cluster: &str, run_id: &str, attempt: u32) -> String {
    let tail = run_id.rsplit('-').next().unwrap_or(run_id);
    let cluster: String = target_cluster.chars().take(38).collect();
    format!(
        "cnpgops-refresh-{}-{tail}-{attempt}",
        cluster.trim_end_matches('-')
    )
}

fn secret_env(var: &str, secret: &str, key: &str) -> Value {
    json!({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

fn side_env(prefix: &str, t: &Target, ca: &Option<String>) -> Vec<Value> {
    let mut env = vec![
        pod::env_value(
            &format!("{prefix}_HOST"),
            &format!("{}-rw.{}.svc", t.cluster, t.namespace),
        ),
        pod::env_value(&format!("{prefix}_DB"), &t.database),
        secret_env(&format!("{prefix}_USER"), &t.secret, "username"),
        secret_env(&format!("{prefix}_PASSWORD"), &t.secret, "password"),
    ];
    let mode = if ca.is_some() {
        "verify-full"
    } else {
        "prefer"
    };
    env.push(pod::env_value(&format!("{prefix}_SSLMODE"), mode));
    env
}

/// The script; no secret in it (they arrive as environment variables).
/// The `application_name` of the Job's sessions on the target: what cnpgops looks for to end a
/// session a failed Job left open (its Pod gone, the server never told: a lost FIN waits for
/// TCP keepalive, two hours, holding the restore's locks).
pub(crate) fn application_name(run_id: &str) -> String {
    format!("cnpgops-restore-{run_id}")
}

pub(crate) fn script(spec: &Spec) -> String {
    let root = |side: &str, ca: &Option<String>| match ca {
        Some(_) => format!(
            " PGSSLROOTCERT=/tls/{side}/{}",
            crate::k8s::cluster_access::CA_CERT_KEY
        ),
        None => String::new(),
    };
    let body = match spec.mode {
        RefreshMode::Atomic => format!(
            "echo \"{DUMP_START}\"\n{DUMP_TO_DIR}\necho \"{DUMP_DONE}\"\necho \"{RESTORE_START}\"\n\
             pg_restore --list /dump/db | toc_filter > /tmp/toc\ntoc_split /tmp/toc\n\
             {{ echo 'BEGIN;'; phase clean; echo \"$CLEAN_SQL\"; for p in {phases}; do phase $p; pg_restore --verbose --no-owner --no-privileges --use-list=/tmp/toc.$p --file=- /dump/db; done; if [ -n \"${{MASK_SQL:-}}\" ]; then phase mask; echo \"$MASK_SQL\"; fi; phase analyze; echo \"$ANALYZE_SQL\"; phase commit; echo \"$ROWS_SQL\"; echo 'COMMIT;'; }} | dst psql -X -q -v ON_ERROR_STOP=1 >/dev/null",
            phases = phases::RESTORE_PHASES.join(" ")
        ),
        RefreshMode::Stream => format!(
            "echo \"{DUMP_START}\"\necho \"{RESTORE_START}\"\n\
             {{ src pg_dump ${{SNAPSHOT:+--snapshot=$SNAPSHOT}} --format=custom --section=post-data --no-owner --no-privileges --file=/tmp/post >/dev/null & post=$!; \
             echo 'BEGIN;'; phase clean; echo \"$CLEAN_SQL\"; \
             phase schema; src pg_dump ${{SNAPSHOT:+--snapshot=$SNAPSHOT}} --format=plain --section=pre-data --no-owner --no-privileges | sql_filter; \
             phase data; src pg_dump ${{SNAPSHOT:+--snapshot=$SNAPSHOT}} --format=plain --section=data --verbose --no-owner --no-privileges; \
             wait $post; pg_restore --list /tmp/post | toc_filter > /tmp/toc; toc_split /tmp/toc data; \
             for p in {post}; do phase $p; pg_restore --verbose --no-owner --no-privileges --use-list=/tmp/toc.$p --file=- /tmp/post; done; \
             if [ -n \"${{MASK_SQL:-}}\" ]; then phase mask; echo \"$MASK_SQL\"; fi; phase analyze; echo \"$ANALYZE_SQL\"; phase commit; echo \"$ROWS_SQL\"; echo 'COMMIT;'; }} | dst psql -X -q -v ON_ERROR_STOP=1 >/dev/null",
            post = phases::RESTORE_PHASES[2..].join(" ")
        ),
        RefreshMode::Parallel => format!(
            "echo \"{DUMP_START}\"\n{DUMP_TO_DIR}\necho \"{DUMP_DONE}\"\necho \"{RESTORE_START}\"\n\
             dst psql -X -q -v ON_ERROR_STOP=1 --single-transaction -c \"$CLEAN_SQL\"\n\
             pg_restore --list /dump/db | toc_filter > /tmp/toc\n\
             dst pg_restore --verbose --no-owner --no-privileges --exit-on-error --jobs=\"$JOBS\" --use-list=/tmp/toc --dbname=\"$DST_DB\" /dump/db\n\
             if [ -n \"${{MASK_SQL:-}}\" ]; then dst psql -X -q -v ON_ERROR_STOP=1 --single-transaction -c \"$MASK_SQL\"; fi\n\
             dst psql -X -q -v ON_ERROR_STOP=1 -c \"$ANALYZE_SQL\""
        ),
    };
    format!(
        r#"set -euo pipefail
src() {{ PGHOST="$SRC_HOST" PGDATABASE="$SRC_DB" PGUSER="$SRC_USER" PGPASSWORD="$SRC_PASSWORD" PGSSLMODE="$SRC_SSLMODE"{src_root} PGOPTIONS='-c default_transaction_read_only=on' "$@"; }}
dst() {{ PGHOST="$DST_HOST" PGDATABASE="$DST_DB" PGUSER="$DST_USER" PGPASSWORD="$DST_PASSWORD" PGSSLMODE="$DST_SSLMODE" PGAPPNAME="{dst_app}"{dst_root} "$@"; }}
{FILTERS}
{phase_fns}
{body}
echo "{RESTORE_DONE}"
"#,
        phase_fns = phases::shell(),
        src_root = root("source", &spec.source_ca),
        dst_app = application_name(&spec.run_id),
        dst_root = root("target", &spec.target_ca),
    )
}

/// Leave out `COMMENT ON EXTENSION` of the extensions named in `$KEEP_EXTENSION_COMMENTS`:
/// from a `pg_restore --list` (then `--use-list`), or from plain SQL (the entry after its
/// `-- Name: EXTENSION x; Type: COMMENT` header, up to the next header). Everything else
/// passes unchanged. (No phase marker is ever added inside SQL: a header-like line inside a
/// function body would take it in; markers go only between whole pg_dump / pg_restore outputs.)
const FILTERS: &str = r#"toc_filter() { awk -v keep=" ${KEEP_EXTENSION_COMMENTS:-} " '{ n = $7; gsub(/"/, "", n) } !($4 == "COMMENT" && $5 == "-" && $6 == "EXTENSION" && index(keep, " " n " ") > 0)'; }
sql_filter() { awk -v keep=" ${KEEP_EXTENSION_COMMENTS:-} " '
/^-- Name: EXTENSION .*; Type: COMMENT;/ { n = $4; sub(/;$/, "", n); gsub(/"/, "", n); if (index(keep, " " n " ") > 0) { skip = 1; print; next } }
skip == 1 { print; skip = 2; next }
skip == 2 { if ($0 == "--") { skip = 0; print }; next }
{ print }'; }"#;

/// The dump into the emptyDir (directory format, parallel).
const DUMP_TO_DIR: &str = "rm -rf /dump/db\nsrc pg_dump ${SNAPSHOT:+--snapshot=$SNAPSHOT} --format=directory --jobs=\"$JOBS\" --verbose --no-owner --no-privileges --file=/dump/db";

/// The labels of the Job, its Pod and the dump's claim.
fn labels(spec: &Spec) -> Value {
    json!({
        MANAGED_BY.0: MANAGED_BY.1,
        RUN_ID_LABEL: spec.run_id,
        STEP_LABEL: spec.step,
        "cnpgops.io/target-cluster": spec.target.cluster,
    })
}

/// The Job manifest.
pub(crate) fn manifest(spec: &Spec) -> Value {
    let labels = labels(spec);
    let mut env = side_env("SRC", &spec.source, &spec.source_ca);
    env.extend(side_env("DST", &spec.target, &spec.target_ca));
    env.push(pod::env_value("JOBS", &spec.jobs.to_string()));
    env.push(pod::env_value("CLEAN_SQL", CLEAN_SQL));
    env.push(pod::env_value("ANALYZE_SQL", ANALYZE_SQL));
    env.push(pod::env_value("ROWS_SQL", super::copied::ROWS_SQL));
    if let Some(sql) = &spec.mask_sql {
        env.push(pod::env_value("MASK_SQL", sql));
    }
    if !spec.keep_extension_comments.is_empty() {
        env.push(pod::env_value(
            "KEEP_EXTENSION_COMMENTS",
            &spec.keep_extension_comments.join(" "),
        ));
    }
    if let Some(id) = &spec.snapshot {
        env.push(pod::env_value("SNAPSHOT", id));
    }
    env.push(pod::env_value("HOME", TMP_DIR));
    let (volumes, mounts) = volumes(spec);
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.name, "namespace": spec.target.namespace, "labels": labels,
            "annotations": {"cnpgops.io/source": format!("{}/{}", spec.source.namespace, spec.source.cluster),
                            "cnpgops.io/restore-mode": spec.mode.promise()}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": spec.deadline_secs,
            "ttlSecondsAfterFinished": pod::TTL_AFTER_FINISHED,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod::job_pod_spec(pod::pod_security(), &spec.pull_secrets, json!({
                    "volumes": volumes,
                    "containers": [{
                        "name": "refresh",
                        "image": spec.image,
                        "command": ["/bin/bash", "-c", pod::literal(&script(spec))],
                        "env": env,
                        "volumeMounts": mounts,
                        "securityContext": pod::container_security(),
                        "resources": spec.resources.manifest(pod::TMP_LIMIT),
                    }],
                })),
            },
        },
    })
}

/// The dump volume's size, when the mode dumps to a file.
fn dump_limit(spec: &Spec) -> Option<String> {
    (spec.mode != RefreshMode::Stream).then(|| pod::dump_limit(spec.source_bytes))
}

/// The Pod's volumes and the container's mounts: `/tmp`, the dump (not in stream mode), and
/// each side's CA certificate.
fn volumes(spec: &Spec) -> (Vec<Value>, Vec<Value>) {
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
    if let Some(limit) = dump_limit(spec) {
        volumes.push(pod::dump_volume(
            "dump",
            &limit,
            spec.dump_storage_class.as_deref(),
            &labels(spec),
        ));
        mounts.push(json!({"name": "dump", "mountPath": DUMP_DIR}));
    }
    for (side, ca) in [("source", &spec.source_ca), ("target", &spec.target_ca)] {
        if let Some(secret) = ca {
            let name = format!("{side}-ca");
            volumes.push(pod::ca_volume(&name, secret));
            mounts
                .push(json!({"name": name, "mountPath": format!("/tls/{side}"), "readOnly": true}));
        }
    }
    // `/tmp` last: a node that mounts in order and keeps Pod directories under /tmp (the
    // sandbox's node agent) has every other source mounted before /tmp is covered.
    volumes.push(pod::scratch_volume("tmp", TMP_LIMIT));
    mounts.push(json!({"name": "tmp", "mountPath": TMP_DIR}));
    (volumes, mounts)
}

#[cfg(test)]
pub(crate) mod tests;
