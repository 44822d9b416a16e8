//! The bad-input table (issue 8): one synestra sandbox, one row per bad input (runbook files,
//! CLI arguments, profiles and config, cluster state), each `args -> exit code + words the
//! message must carry` (what is wrong, where, what to do). For every row nothing changed: every
//! object the sandbox holds (each with its resourceVersion) and a fingerprint of the prod and dev
//! databases (every user table's rows and checksum) are the same before and after.
//! The table is printed as markdown (`--nocapture`), and written to `$CNPGOPS_BAD_INPUT_TABLE`
//! when set, for docs/RELIABILITY.md.

use crate::fingerprint::{self as fp, Fingerprint};

use crate::harness::World;
use crate::sandbox::Kube;

/// The synestra scenario's database owner and its password (sandbox data).
const OWNER: &str = "synestra_io";
const PASSWORD: &str = "sandbox-initdb-Pa55";

/// Files the rows name as `{dir}/NAME`.
#[rustfmt::skip]
const FILES: &[(&str, &str)] = &[
    ("syntax.yaml", "name: rb\nsummary: s\nsteps: [\n"),
    ("kind.yaml", "name: rb\nsummary: s\nsteps:\n  - id: a\n    uses: kube.frobnicate\n    with: {x: 1}\n"),
    ("template.yaml", "name: rb\nsummary: s\nsteps:\n  - id: a\n    uses: log\n    with: {message: \"{{ oops \"}\n"),
    ("field.yaml", "name: rb\nsummary: s\nstepz: []\nsteps:\n  - id: a\n    uses: log\n    with: {message: hi}\n"),
    ("destructive.yaml", "name: rb\nsummary: s\nsteps:\n  - id: a\n    uses: kube.delete\n    destructive: true\n    with: {kind: Cluster, name: synestra-io-cnpg, namespace: databases}\n"),
    ("output.yaml", "name: rb\nsummary: s\nsteps:\n  - id: a\n    uses: log\n    with: {message: hi}\n  - id: b\n    uses: log\n    with: {message: \"{{ steps.a.outputs.nope }}\"}\n"),
    ("secret.yaml", "name: rb\nsummary: s\nsteps:\n  - id: a\n    uses: kube.get\n    with: {kind: Secret, name: synestra-io-initdb-secret, namespace: databases}\n"),
    ("timestamp.yaml", "name: rb\nsummary: s\nparams:\n  - {name: at, type: timestamp, required: true}\nsteps:\n  - id: a\n    uses: log\n    with: {message: \"{{ params.at }}\"}\n"),
    ("badconfig.yaml", "profiles: [\n"),
    ("typo.yaml", "profiles:\n  typo:\n    clustr: x\n"),
    ("lost.yaml", "profiles:\n  lost:\n    credentials_secret: \"{app}-{env}-missing\"\n"),
];

/// One row: (area, case, args (`{dir}` = the files' directory), exit code, words).
type Row = (
    &'static str,
    &'static str,
    &'static [&'static str],
    i32,
    &'static [&'static str],
);

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // Runbook files: file:line:col and what was expected.
    ("runbook", "YAML syntax", &["run", "{dir}/syntax.yaml", "--yes"], 2, &["syntax.yaml:3:8", "failed to parse runbook"]),
    ("runbook", "unknown step kind", &["run", "{dir}/kind.yaml", "--yes"], 2, &["kind.yaml:5:11", "unknown step kind `kube.frobnicate`", "known kinds"]),
    ("runbook", "bad template", &["run", "{dir}/template.yaml", "--yes"], 2, &["template.yaml:6:", "invalid template: syntax error"]),
    ("runbook", "unknown field", &["run", "{dir}/field.yaml", "--yes"], 2, &["field.yaml:3:1", "unknown field `stepz`"]),
    ("runbook", "destructive step without confirm", &["run", "{dir}/destructive.yaml", "--yes"], 2, &["destructive.yaml:4:9", "needs `confirm:`"]),
    ("runbook", "template names a missing output", &["run", "{dir}/output.yaml", "--yes"], 2, &["output.yaml:9:", "has no output `nope`"]),
    ("runbook", "kube.get of a Secret", &["run", "{dir}/secret.yaml", "--yes"], 2, &["secret.yaml:4:9", "does not read Secrets"]),
    ("runbook", "no such runbook", &["run", "no-such-runbook", "--yes"], 2, &["no-such-runbook", "cnpgops runbooks list"]),
    ("runbook", "malformed timestamp param", &["run", "{dir}/timestamp.yaml", "-p", "at=yesterday"], 2, &["timestamp.yaml:4:", "param `at`", "RFC 3339", "2026-"]),
    ("runbook", "bad duration param", &["run", "selftest", "-p", "target=x", "-p", "pause=forever"], 2, &["selftest.yaml:16:11", "expected a duration"]),
    ("runbook", "missing required param", &["run", "refresh-dev", "--yes"], 2, &["refresh-dev.yaml:19:11", "missing required param `app`", "-p app=VALUE"]),
    ("runbook", "param fails its pattern", &["run", "refresh-dev", "-p", "app=Bad_App", "--yes"], 2, &["param `app`", "does not match pattern"]),
    ("runbook", "unknown param", &["run", "refresh-dev", "-p", "app=synestra-io", "-p", "nope=1", "--yes"], 2, &["unknown param `nope`", "this runbook takes"]),
    ("runbook", "enum param out of range", &["run", "refresh-dev", "-p", "app=synestra-io", "-p", "verify=sometimes", "--yes"], 2, &["param `verify`", "expected one of counts, checksums"]),
    // CLI arguments: clap's usage errors are exit 2 too.
    ("cli", "unknown flag", &["refresh-dev", "synestra-io", "--bogus"], 2, &["unexpected argument '--bogus'", "--help"]),
    ("cli", "bad duration flag", &["refresh-dev", "synestra-io", "--yes", "--lock-ttl", "5parsecs"], 2, &["'5parsecs' for '--lock-ttl", "unknown time unit"]),
    ("cli", "bad --timeout", &["backup", "synestra-io", "--timeout", "forever"], 2, &["'forever' for '--timeout"]),
    ("cli", "unknown --mode", &["refresh-dev", "synestra-io", "--yes", "--mode", "fast"], 2, &["'fast' for '--mode", "possible values: atomic, stream, parallel"]),
    ("cli", "exclusive flags -q -v", &["refresh-dev", "synestra-io", "-q", "-v"], 2, &["'--quiet' cannot be used with '--verbose"]),
    ("cli", "missing APP", &["refresh-dev", "--yes"], 2, &["required arguments were not provided", "<APP>"]),
    ("cli", "non-numeric --jobs", &["refresh-dev", "synestra-io", "--yes", "--jobs", "many"], 2, &["'many' for '--jobs"]),
    ("cli", "unknown --output", &["runs", "list", "-o", "yaml"], 2, &["'yaml' for '--output", "possible values: text, json"]),
    ("cli", "unknown --state", &["runs", "list", "--state", "etcd"], 2, &["'etcd' for '--state", "possible values: local, kubernetes"]),
    ("cli", "unknown run id (resume)", &["resume", "20200101-000000-dead", "--yes"], 2, &["failed to find run `20200101-000000-dead`"]),
    ("cli", "unknown run id (runs show)", &["runs", "show", "20200101-000000-dead"], 2, &["failed to find run `20200101-000000-dead`"]),
    ("cli", "same --from and --to", &["refresh-dev", "synestra-io", "--from", "dev", "--to", "dev", "--yes"], 2, &["name the same database", "Cluster databases/synestra-io-dev-cnpg", "--from prod --to dev"]),
    // Profiles and config.
    ("config", "config file missing", &["refresh-dev", "synestra-io", "--yes", "--config", "{dir}/none.yaml"], 2, &["failed to read config file", "none.yaml"]),
    ("config", "config file not YAML", &["refresh-dev", "synestra-io", "--yes", "--config", "{dir}/badconfig.yaml"], 2, &["failed to parse config file", "badconfig.yaml", "line 1 column 11"]),
    ("config", "unknown profile field", &["refresh-dev", "synestra-io", "--yes", "--config", "{dir}/typo.yaml", "--profile", "typo"], 2, &["typo.yaml", "line 3 column 5", "unknown field `clustr`", "expected one of"]),
    ("config", "unknown profile", &["refresh-dev", "synestra-io", "--yes", "--profile", "nope"], 2, &["failed to find profile `nope`", "known: default"]),
    ("config", "unknown kubeconfig context", &["refresh-dev", "synestra-io", "--yes", "--context", "nope"], 2, &["failed to load current context: nope", "check --kubeconfig / --context"]),
    ("config", "unknown app (backups)", &["backups", "nope"], 2, &["failed to find Cluster databases/nope-cnpg", "naming profile"]),
    ("config", "unknown env (backups)", &["backups", "synestra-io", "--env", "staging"], 2, &["failed to find Cluster databases/synestra-io-staging-cnpg"]),
    ("config", "unknown app (migrations status)", &["migrations", "status", "nope"], 2, &["failed to find Application argocd/web-nope-dev"]),
    // Cluster state.
    ("cluster", "missing cluster (refresh-dev)", &["refresh-dev", "nope", "--yes"], 2, &["failed to find Cluster databases/nope-cnpg", "naming profile `default`"]),
    ("cluster", "missing secret", &["refresh-dev", "synestra-io", "--yes", "--config", "{dir}/lost.yaml", "--profile", "lost"], 2, &["failed to find Secret databases/synestra-io-prod-missing"]),
    ("cluster", "unhealthy source cluster", &["refresh-dev", "sick", "--yes"], 3, &["Cluster databases/sick-cnpg is not healthy"]),
    ("cluster", "wrong major version (--image)", &["refresh-dev", "synestra-io", "--yes", "--image", "ghcr.io/cloudnative-pg/postgresql:14.9"], 3, &["major version mismatch"]),
    ("cluster", "prod as refresh target", &["refresh-dev", "synestra-io", "--to", "prod", "--yes"], 3, &["is production", "Cluster databases/synestra-io-cnpg", "Nothing was changed"]),
    ("cluster", "prod as target via run --allow-prod", &["run", "refresh-dev", "-p", "app=synestra-io", "-p", "to=prod", "--yes", "--allow-prod"], 3, &["never be a refresh target"]),
    ("cluster", "no terminal and no --yes", &["refresh-dev", "synestra-io"], 3, &["--yes"]),
    ("cluster", "no backup config (backups)", &["backups", "synestra-io", "--env", "dev"], 2, &["Cluster databases/synestra-io-dev-cnpg has no backup configuration", "spec.backup.barmanObjectStore"]),
    ("cluster", "no backup config (backup)", &["backup", "synestra-io", "--env", "dev"], 2, &["Cluster databases/synestra-io-dev-cnpg has no backup configuration"]),
    ("cluster", "migrations resync of an unknown app", &["migrations", "resync", "nope", "--yes"], 2, &["failed to find Application argocd/web-nope-dev"]),
    ("cluster", "migrations resync in prod without --allow-prod", &["migrations", "resync", "synestra-io", "--env", "prod", "--yes"], 3, &["is production", "--allow-prod"]),
    // restore and refresh-dev --method recovery: refused before anything is written.
    ("restore", "target time outside the window", &["restore", "synestra-io", "--env", "prod", "--target-time", "2001-01-01T00:00:00Z", "--to-cluster", "synestra-io-r", "--yes"], 2, &["outside the recoverability window of s3://synestra-io-backups/cnpg/synestra-io-cnpg", " .. "]),
    ("restore", "malformed target time", &["restore", "synestra-io", "--env", "prod", "--target-time", "yesterday", "--to-cluster", "synestra-io-r", "--yes"], 2, &["target time `yesterday` is not a time", "RFC 3339"]),
    ("restore", "target time without timezone", &["restore", "synestra-io", "--env", "prod", "--target-time", "2026-11-24 01:00:00", "--to-cluster", "synestra-io-r", "--yes"], 2, &["has no timezone"]),
    ("restore", "unknown backup id", &["restore", "synestra-io", "--env", "prod", "--backup-id", "20000101T000000", "--to-cluster", "synestra-io-r", "--yes"], 2, &["backup `20000101T000000` is not in s3://"]),
    ("restore", "two targets", &["restore", "synestra-io", "--env", "prod", "--latest", "--backup-id", "x", "--yes"], 2, &["cannot be used with"]),
    ("restore", "no target", &["restore", "synestra-io", "--env", "prod", "--yes"], 2, &["required arguments were not provided"]),
    ("restore", "--to-cluster names an existing Cluster", &["restore", "synestra-io", "--env", "prod", "--latest", "--to-cluster", "synestra-io-dev-cnpg", "--yes"], 2, &["Cluster databases/synestra-io-dev-cnpg already exists"]),
    ("restore", "--to-cluster not a name", &["restore", "synestra-io", "--env", "prod", "--latest", "--to-cluster", "Bad_Name", "--yes"], 2, &["param `to_cluster`", "does not match pattern"]),
    ("restore", "unknown app", &["restore", "nope", "--env", "prod", "--latest", "--to-cluster", "nope-r", "--yes"], 2, &["failed to find Cluster databases/nope-cnpg"]),
    ("restore", "no backup configuration", &["restore", "synestra-io", "--env", "dev", "--latest", "--to-cluster", "synestra-io-r", "--yes"], 2, &["Cluster databases/synestra-io-dev-cnpg has no backup configuration"]),
    ("restore", "prod in place without --allow-prod", &["restore", "synestra-io", "--env", "prod", "--latest", "--yes"], 3, &["pass --allow-prod"]),
    ("restore", "refresh-dev --method recovery outside the window", &["refresh-dev", "synestra-io", "--method", "recovery", "--target-time", "2001-01-01T00:00:00Z", "--yes"], 2, &["outside the recoverability window of s3://"]),
];

/// Both databases' fingerprints (the tests' own oracle: definitions, rows, hashes).
fn fingerprint(kube: &Kube) -> [Fingerprint; 2] {
    ["synestra-io-cnpg", "synestra-io-dev-cnpg"].map(|c| fp::of(kube, c, OWNER, PASSWORD))
}

/// The first line of the error (or of stderr's last lines), for the docs.
fn excerpt(stderr: &str, dir: &str, state: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .replace(dir, "DIR")
        .replace(state, "STATE");
    let line = line.trim_start_matches("error: ");
    let cut: String = line.chars().take(150).collect();
    let cut = if cut.len() < line.len() {
        format!("{cut}…")
    } else {
        cut
    };
    cut.replace('|', "\\|")
}

#[test]
fn bad_input_table_every_row_a_clear_error_and_nothing_changed() {
    assert!(ROWS.len() >= 30, "the issue asks for at least 30 rows");
    let (w, kube) = (World::new(), Kube::start());
    kube.scenario("synestra.yaml");
    // Row setup, done once before any row: files, and a source that never becomes healthy:
    // its bootstrap secret names another user, and CNPG is told not to reconcile it
    // (`cnpg.io/reconciliationLoop: disabled`, so it stays still instead of retrying its
    // init Job for ten minutes).
    for (name, text) in FILES {
        std::fs::write(w.path(name), text).unwrap();
    }
    kube.create("apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: sick-cnpg, namespace: databases, annotations: {cnpg.io/reconciliationLoop: disabled}}\nspec: {instances: 1, storage: {size: 1Gi}, bootstrap: {initdb: {database: sick, owner: sick, secret: {name: sick-owner}}}}\n");
    kube.create("apiVersion: v1\nkind: Secret\nmetadata: {name: sick-owner, namespace: databases}\nstringData: {username: not-sick, password: sick-Pa55}\n");
    kube.settle();

    let dir = w.scratch.path().display().to_string();
    let state = w.state.path().display().to_string();
    let mut table = vec![
        "| area | case | command | exit | message (excerpt) |".to_string(),
        "| --- | --- | --- | --- | --- |".to_string(),
    ];
    let mut failures = Vec::new();
    for (area, case, args, code, words) in ROWS {
        let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &dir)).collect();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (objects, _) = kube.everything();
        let dbs = fingerprint(&kube);
        let ran = kube.run(&w, &argv);
        let (after, _) = kube.everything();
        let dbs_after = fingerprint(&kube);
        let mut problems = Vec::new();
        if ran.code != *code {
            problems.push(format!("exit {} (expected {code})", ran.code));
        }
        for word in *words {
            if !ran.stderr.contains(word) {
                problems.push(format!("no `{word}` in the message"));
            }
        }
        if objects != after {
            let gone: Vec<_> = objects.iter().filter(|o| !after.contains(o)).collect();
            let new: Vec<_> = after.iter().filter(|o| !objects.contains(o)).collect();
            problems.push(format!("objects changed: before {gone:?}\nafter {new:?}"));
        }
        for ((before, after), db) in dbs.iter().zip(&dbs_after).zip(["prod", "dev"]) {
            let diff = before.diff("before", after, "after");
            if !diff.is_empty() {
                problems.push(format!("{db} database changed: {diff:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{area}/{case} {argv:?}: {}\nstderr:\n{}",
                problems.join("; "),
                ran.stderr
            ));
        }
        let shown = args
            .iter()
            .map(|a| a.replace(&dir, "DIR"))
            .collect::<Vec<_>>()
            .join(" ");
        table.push(format!(
            "| {area} | {case} | `cnpgops {shown}` | {} | {} |",
            ran.code,
            excerpt(&ran.stderr, &dir, &state)
        ));
    }
    let table = table.join("\n");
    eprintln!("{table}");
    if let Ok(path) = std::env::var("CNPGOPS_BAD_INPUT_TABLE") {
        std::fs::write(path, format!("{table}\n")).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n\n")
    );
}
