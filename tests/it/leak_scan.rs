//! Leak scan for every shipped runbook and command (issue 8): in the synestra world, with known
//! secrets planted — the app's owner password (also inside the apps' `DATABASE_URI`s), the apps'
//! `PAYLOAD_SECRET`s, a superuser password, the S3 keys the prod cluster archives with, and a
//! webhook URL token — run selftest, refresh-dev, migration-resync, `backups`, `backup`,
//! `restore` (into a new Cluster) and refresh-dev `--method recovery` at
//! trace level, once with text output and logs (file state), once with `-o json` and JSON logs
//! (`--state kubernetes`), each telling the webhook. First, a migration that fails printing
//! its `DATABASE_URI` (as is and base64'd inside a longer line) and a PostgreSQL error quoting
//! the password: the hook's own log holds them (checked), cnpgops reports that log. No secret, as is, base64 or URL-encoded,
//! may appear in stdout, stderr, the checkpoint files, `runs list`, the webhook bodies, or any
//! object in the cluster but the Secrets themselves (run-state ConfigMaps, Events, annotations,
//! Jobs' and Pods' specs and args).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams, Patch, PatchParams};

use crate::harness::World;
use crate::leaks::{self, forms};
use crate::sandbox::Kube;

const APP_NS: &str = "web-synestra-io-dev";

/// What the scenario's failing migration prints, to which these lines are added: its URI as
/// is, base64'd after a prefix (the password at another byte alignment), and PostgreSQL's
/// error for a statement quoting the password.
const FAILING_LINE: &str = r#"echo 'ERROR: column "blocks" of relation "pages" already exists (migration 20251216_add_page_blocks)' >&2"#;
const LEAKY_LINES: &str = r#"echo "[payload] migration failed: DATABASE_URI=$DATABASE_URI" >&2
echo "[payload] error context: $(printf 'uri=%s' "$DATABASE_URI" | base64 -w0)" >&2
pw=$(printf %s "$DATABASE_URI" | sed 's|^[^:]*://[^:]*:\([^@]*\)@.*|\1|')
psql "$DATABASE_URI" -X -q -c "SELECT '$pw'::int" || true
"#;

/// Server-side applies `data` to ConfigMap `ns/name` (created if missing).
fn apply_data(kube: &Kube, ns: &str, name: &str, data: serde_json::Value) {
    let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns}, "data": data});
    let pp = PatchParams::apply("leak-scan").force();
    let api = kube.api("ConfigMap", ns);
    kube.block_on(api.patch(name, &pp, &Patch::Apply(body)))
        .unwrap();
}

/// The revision the dev Application's last refresh compared with.
fn last_revision(kube: &Kube) -> serde_json::Value {
    let app = kube.get("Application", "argocd", APP_NS).unwrap();
    app["status"]["sync"]["revision"].clone()
}

/// Waits until Argo CD has seen the changed "Git" (a refresh compared another revision than
/// `before`) and no operation runs. A change to a hook alone leaves the app Synced (hooks do not
/// count), so no automated sync follows; the resync below must not find one running anyway.
fn settled(kube: &Kube, before: &serde_json::Value) {
    let t0 = std::time::Instant::now();
    loop {
        let app = kube.get("Application", "argocd", APP_NS).unwrap();
        let state = &app["status"]["operationState"];
        let new = app["status"]["sync"]["revision"] != *before;
        if new && app["operation"].is_null() && state["phase"] != "Running" {
            return;
        }
        assert!(t0.elapsed().as_secs() < 120, "never settled: {app:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Makes dev's migration hook print its secrets when it fails, and fail once more
/// (`force-fail`) through a `migrations resync` (text, then JSON); those runs' outputs and the
/// hook's own log.
fn leaky_failed_migration(kube: &Kube, w: &World, url: &str) -> (Vec<(String, String)>, String) {
    let git = kube
        .get("ConfigMap", "argocd", "web-synestra-io-dev-git")
        .unwrap();
    let hook = git["data"]["20-migrate.yaml"].as_str().unwrap();
    let line = hook.lines().find(|l| l.contains(FAILING_LINE));
    let line = line.unwrap_or_else(|| panic!("the scenario's hook changed: {hook}"));
    let indent = &line[..line.len() - line.trim_start().len()];
    let leaky: String = LEAKY_LINES
        .lines()
        .map(|l| format!("{indent}{l}\n"))
        .collect();
    let hook = hook.replace(line, &format!("{leaky}{line}"));
    let git = serde_json::json!({"20-migrate.yaml": hook});
    let before = last_revision(kube);
    apply_data(kube, "argocd", "web-synestra-io-dev-git", git);
    let switch = "web-synestra-io-dev-migrations";
    apply_data(
        kube,
        APP_NS,
        switch,
        serde_json::json!({"force-fail": "true"}),
    );
    settled(kube, &before);
    let mut outputs = Vec::new();
    for (form, extra) in [
        ("text", &[][..]),
        ("json", &["-o", "json", "--log-format", "json"][..]),
    ] {
        let mut argv = vec!["-vvv", "--notify", url, "migrations", "resync"];
        argv.extend_from_slice(&["synestra-io", "--yes"]);
        argv.extend_from_slice(extra);
        let ran = kube.run(w, &argv);
        ran.code(4);
        let all = format!("{}{}", ran.stdout, ran.stderr);
        assert!(
            all.contains("invalid input syntax for type integer: \"********\""),
            "the hook's PostgreSQL error is reported, masked: {all}"
        );
        outputs.push((format!("failed migration {form} stdout"), ran.stdout));
        outputs.push((format!("failed migration {form} stderr"), ran.stderr));
    }
    apply_data(
        kube,
        APP_NS,
        switch,
        serde_json::json!({"force-fail": "false"}),
    );
    let pods = kube::Api::<Pod>::namespaced(kube.client.clone(), APP_NS);
    let selector = ListParams::default().labels("app.kubernetes.io/name=web-migrate");
    let listed = kube.block_on(pods.list(&selector)).unwrap();
    let name = listed.items[0].metadata.name.clone().unwrap();
    let log = kube.block_on(pods.logs(&name, &LogParams::default()));
    (outputs, log.unwrap())
}

const OWNER_PASSWORD: &str = "sandbox-initdb-Pa55";
const PAYLOAD_SECRETS: [&str; 2] = ["sandbox-payload-dev-secret", "sandbox-payload-prod-secret"];
const SUPERUSER_PASSWORD: &str = "Su-PLANTED-pw-31415";
const WEBHOOK_TOKEN: &str = "T0KEN-secret-27182818";

/// The S3 keys the loader minted into the prod cluster's backup Secret.
fn s3_keys(kube: &Kube) -> Vec<String> {
    let secret = kube
        .get("Secret", "databases", "synestra-io-backup-s3")
        .unwrap();
    ["ACCESS_KEY_ID", "ACCESS_SECRET_KEY"]
        .iter()
        .map(|k| {
            let b64 = secret["data"][k].as_str().expect("an S3 key");
            String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
        })
        .collect()
}

/// Every shipped runbook or command, with its arguments.
/// `format` names the run's output form (restores go to a new Cluster per form).
fn commands(marker: &str, format: &str) -> Vec<(&'static str, Vec<String>)> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (
            "selftest",
            v(&[
                "run",
                "selftest",
                "-p",
                "target=leak",
                "-p",
                &format!("marker={marker}"),
                "--yes",
            ]),
        ),
        (
            "refresh-dev",
            v(&[
                "refresh-dev",
                "synestra-io",
                "--yes",
                "--verify",
                "checksums",
            ]),
        ),
        (
            "migration-resync",
            v(&["migrations", "resync", "synestra-io", "--yes"]),
        ),
        ("backups", v(&["backups", "synestra-io", "--no-cache"])),
        (
            "backup",
            v(&["backup", "synestra-io", "--wait", "--timeout", "5m"]),
        ),
        (
            "restore",
            v(&[
                "restore",
                "synestra-io",
                "--env",
                "prod",
                "--latest",
                "--to-cluster",
                &format!("synestra-io-leak-{format}"),
                "--yes",
            ]),
        ),
        (
            "refresh-dev-recovery",
            v(&[
                "refresh-dev",
                "synestra-io",
                "--method",
                "recovery",
                "--yes",
            ]),
        ),
    ]
}

#[test]
fn no_runbook_leaks_a_planted_secret_anywhere() {
    let (w, kube) = (World::new(), Kube::start());
    kube.scenario("synestra.yaml");
    kube.namespace("cnpgops");
    // What CNPG creates with `enableSuperuserAccess`; every Secret cnpgops could read is planted.
    kube.create(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: synestra-io-cnpg-superuser, namespace: databases}}\ntype: kubernetes.io/basic-auth\nstringData: {{username: postgres, password: {SUPERUSER_PASSWORD}, uri: 'postgresql://postgres:{SUPERUSER_PASSWORD}@synestra-io-cnpg-rw.databases:5432/*'}}\n"
    ));
    let (url, bodies) = leaks::webhook(&format!("/hooks/{WEBHOOK_TOKEN}"));
    let mut secrets = vec![
        OWNER_PASSWORD.to_string(),
        SUPERUSER_PASSWORD.to_string(),
        WEBHOOK_TOKEN.to_string(),
    ];
    secrets.extend(PAYLOAD_SECRETS.map(String::from));
    secrets.extend(s3_keys(&kube));
    let needles: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();

    // The scanner finds what is there: every secret but the flag's token is in a Secret.
    let (objects, _) = kube.everything();
    let secret_objects: Vec<(String, String)> = objects
        .iter()
        .filter(|o| serde_json::from_str::<serde_json::Value>(o).unwrap()["kind"] == "Secret")
        .map(|o| ("a Secret".to_string(), o.clone()))
        .collect();
    for secret in secrets.iter().filter(|s| *s != WEBHOOK_TOKEN) {
        let found = leaks::scan(&forms(secret), &secret_objects);
        assert!(!found.is_empty(), "{secret} was not planted");
    }

    // A failing migration prints its URI and PostgreSQL quotes the password: the secret is
    // in the hook's log in three forms (the scanner sees them there), cnpgops reports that log.
    let (mut outputs, log) = leaky_failed_migration(&kube, &w, &url);
    let in_log = leaks::scan(
        &forms(OWNER_PASSWORD),
        &[("the hook's log".into(), log.clone())],
    );
    assert!(
        log.contains(&format!(
            r#"invalid input syntax for type integer: "{OWNER_PASSWORD}""#
        )),
        "{log}"
    );
    assert!(
        in_log.len() >= 2,
        "the password as is and base64'd in the hook's log: {in_log:?}\n{log}"
    );

    let marker = w.path("marker.log").display().to_string();
    let json = [
        "-o",
        "json",
        "--log-format",
        "json",
        "--state",
        "kubernetes",
        "--state-namespace",
        "cnpgops",
    ];
    let mut ran_any_trace = false;
    for (format, extra) in [("text", &[][..]), ("json", &json[..])] {
        for (name, args) in commands(&marker, format) {
            let mut argv: Vec<&str> = vec!["-vvv", "--notify", &url];
            argv.extend(args.iter().map(String::as_str));
            argv.extend_from_slice(extra);
            let ran = kube.run(&w, &argv);
            assert_eq!(
                ran.code, 0,
                "{name} ({format}) failed:\n{}\n{}",
                ran.stdout, ran.stderr
            );
            ran_any_trace |= ran.stderr.contains("TRACE") || ran.stderr.contains("\"TRACE\"");
            outputs.push((format!("{name} {format} stdout"), ran.stdout));
            outputs.push((format!("{name} {format} stderr"), ran.stderr));
        }
        let mut list = vec!["runs", "list"];
        list.extend_from_slice(extra);
        let ran = kube.run(&w, &list);
        ran.code(0);
        outputs.push((format!("runs list {format}"), ran.stdout));
    }
    assert!(ran_any_trace, "no trace-level logs were produced");
    let json_events = outputs
        .iter()
        .filter(|(what, _)| what.contains("json stdout"))
        .flat_map(|(_, t)| t.lines())
        .filter(|l| l.starts_with('{'))
        .count();
    assert!(json_events > 10, "few JSON events: {json_events}");

    for (i, checkpoint) in w.checkpoints().into_iter().enumerate() {
        outputs.push((format!("checkpoint file {i}"), checkpoint));
    }
    let bodies = bodies.lock().unwrap().clone();
    assert!(
        bodies.len() >= 10,
        "a webhook message per run (5 runbooks x 2): {bodies:?}"
    );
    for (i, body) in bodies.into_iter().enumerate() {
        outputs.push((format!("webhook body {i}"), body));
    }
    let (objects, _) = kube.everything();
    let cms = objects
        .iter()
        .filter(|o| o.contains("cnpgops-run-") && o.contains(r#""kind":"ConfigMap""#))
        .count();
    assert!(cms >= 3, "run-state ConfigMaps: {cms}");
    for o in &objects {
        let v: serde_json::Value = serde_json::from_str(o).unwrap();
        if v["kind"] == "Secret" {
            continue;
        }
        let what = format!(
            "{} {}/{}",
            v["kind"], v["metadata"]["namespace"], v["metadata"]["name"]
        );
        outputs.push((what, o.clone()));
    }
    eprintln!(
        "leak scan: {} secrets ({} forms) over {} outputs",
        secrets.len(),
        needles.len(),
        outputs.len()
    );
    leaks::assert_clean(&needles, &outputs);
}
