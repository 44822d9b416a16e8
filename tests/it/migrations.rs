//! `cnpgops migrations resync|status` against the sandbox's Argo CD controller: the synestra
//! scenario (a failed `web-migrate` Sync hook over a real PostgreSQL), and a small Argo world
//! (no database) for refusals, nothing-to-do, a secret-printing hook and `--notify`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Ran, World};
use crate::sandbox::Kube;

const DEV_NS: &str = "web-synestra-io-dev";
const SECRET: &str = "demo-Planted-Pa55word-42";

/// The last JSON line (the run report) of `-o json` output.
fn report(ran: &Ran) -> Value {
    let last = ran
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains("run_finished"));
    let line = last.unwrap_or_else(|| panic!("no report:\n{}\n{}", ran.stdout, ran.stderr));
    serde_json::from_str::<Value>(line).unwrap()["report"].clone()
}

fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

/// Every object's identity (kind, namespace, name).
fn identities(kube: &Kube) -> BTreeSet<String> {
    let (all, _) = kube.everything();
    all.iter()
        .map(|o| serde_json::from_str::<Value>(o).unwrap())
        .map(|o| {
            format!(
                "{} {}/{}",
                o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]
            )
        })
        .collect()
}

fn job(kube: &Kube, ns: &str) -> Value {
    kube.get("Job", ns, "web-migrate")
        .expect("the hook Job exists")
}

fn job_failed(job: &Value) -> bool {
    job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Failed" && c["status"] == "True")
}

#[test]
fn resync_deletes_the_failed_hook_syncs_and_keeps_its_logs() {
    let (w, kube) = (World::new(), Kube::start());
    kube.scenario("synestra.yaml");
    let old = job(&kube, DEV_NS);
    assert!(
        job_failed(&old),
        "the scenario starts with a failed hook: {old:#}"
    );
    let ran = kube.run(&w, &["migrations", "resync", "synestra-io", "-o", "json"]);
    ran.code(0);
    let r = report(&ran);
    let found = &step(&r, "failed")["outputs"]["jobs"][0];
    assert_eq!(found["uid"], old["metadata"]["uid"]);
    let logs = found["logs"].to_string();
    assert!(
        logs.contains(r#"column \"blocks\" of relation \"pages\" already exists"#),
        "{logs}"
    );
    assert!(
        ran.stdout.contains("ERROR: column"),
        "the failing line is printed"
    );
    assert_eq!(step(&r, "sync")["outputs"]["sync"], "Synced");
    let app = kube.get("Application", "argocd", DEV_NS).unwrap();
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    assert_eq!(app["status"]["health"]["status"], "Healthy");
    let op = &app["status"]["operationState"];
    assert_eq!(op["phase"], "Succeeded");
    assert_eq!(op["operation"]["sync"]["prune"], true);
    assert!(op["operation"]["initiatedBy"]["username"]
        .as_str()
        .is_some_and(|u| !u.is_empty()));
    assert!(app["operation"].is_null());
    let new = job(&kube, DEV_NS);
    assert_ne!(
        new["metadata"]["uid"], old["metadata"]["uid"],
        "a new hook Job ran"
    );
    assert!(!job_failed(&new));
    assert!(
        !ran.stdout.contains("sandbox-initdb-Pa55") && !ran.stderr.contains("sandbox-initdb-Pa55")
    );
    let status = kube.run(&w, &["migrations", "status", "synestra-io"]);
    status.code(0);
    assert!(
        status
            .stdout
            .contains("Synced/Healthy, last operation Succeeded"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("web-migrate (Argo CD Sync hook): succeeded"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_migration_that_fails_again_is_step_failed_and_deletes_nothing_else() {
    let (w, kube) = (World::new(), Kube::start());
    kube.scenario("synestra.yaml");
    kube.create(&format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web-synestra-io-dev-migrations, namespace: {DEV_NS}}}\ndata: {{force-fail: 'true'}}\n"));
    let old = job(&kube, DEV_NS);
    let before = identities(&kube);
    let ran = kube.run(&w, &["migrations", "resync", "synestra-io"]);
    ran.code(4);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        all.contains("ERROR: column \"blocks\" of relation \"pages\" already exists"),
        "{all}"
    );
    assert!(
        all.contains("one or more synchronization tasks completed unsuccessfully"),
        "{all}"
    );
    let after = identities(&kube);
    let old_pods: Vec<String> = before
        .iter()
        .filter(|i| i.starts_with("\"Pod\"") && i.contains("web-migrate"))
        .cloned()
        .collect();
    let gone: Vec<&String> = before
        .difference(&after)
        .filter(|i| !old_pods.contains(i))
        .collect();
    assert!(
        gone.is_empty(),
        "only the failed Job's Pods may go: {gone:?}"
    );
    let new = job(&kube, DEV_NS);
    assert_ne!(new["metadata"]["uid"], old["metadata"]["uid"]);
    assert!(
        job_failed(&new),
        "the new hook failed too and is kept for inspection"
    );
    let app = kube.get("Application", "argocd", DEV_NS).unwrap();
    assert_eq!(app["status"]["operationState"]["phase"], "Failed");
}

/// A small Argo world: app `demo` (dev), its hook printing a secret when it fails; `mode`:
/// `ok`, `fail` or `sleep` (the hook runs for a minute), written before the auto-sync.
fn small_world(kube: &Kube, mode: &str) {
    for ns in ["argocd", "databases", "web-demo-dev"] {
        kube.namespace(ns);
    }
    kube.create(&format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: web-demo-dev-env, namespace: web-demo-dev}}\nstringData: {{DATABASE_URI: 'postgresql://demo:{SECRET}@demo-dev-cnpg-rw.databases:5432/demo'}}\n"));
    kube.create(&format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: migration-mode, namespace: web-demo-dev}}\ndata: {{mode: {mode}}}\n"));
    let hook = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: web-migrate
  annotations: {argocd.argoproj.io/hook: Sync}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: payload:1
        env:
        - {name: MODE, valueFrom: {configMapKeyRef: {name: migration-mode, key: mode}}}
        - {name: DATABASE_URI, valueFrom: {secretKeyRef: {name: web-demo-dev-env, key: DATABASE_URI}}}
        command: ["/bin/sh", "-c", "if [ \"$MODE\" = sleep ]; then sleep 60; fi; if [ \"$MODE\" = ok ]; then echo migrated; exit 0; fi; echo \"ERROR: migration 0042 failed on $DATABASE_URI\" >&2; exit 1"]
"#;
    // A resource beside the hook: an app of hooks only is Synced from the start (hooks do not
    // count), so Argo CD would never auto-sync it.
    let settings = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-settings}\n";
    let git = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-demo-dev-git", "namespace": "argocd"}, "data": {"10-settings.yaml": settings, "20-migrate.yaml": hook}});
    kube.create(&serde_json::to_string(&git).unwrap());
    kube.create("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web-demo-dev, namespace: argocd, annotations: {sandbox.cnpgops.io/manifests: web-demo-dev-git}}\nspec:\n  project: default\n  source: {repoURL: 'https://git.example/demo.git', path: deploy, targetRevision: main}\n  destination: {server: 'https://kubernetes.default.svc', namespace: web-demo-dev}\n  syncPolicy: {automated: {prune: true}, retry: {limit: 0}}\n");
    let t0 = Instant::now();
    loop {
        let app = kube.get("Application", "argocd", "web-demo-dev").unwrap();
        let phase = app["status"]["operationState"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let done = if mode == "sleep" {
            phase == "Running"
        } else {
            app["operation"].is_null() && matches!(phase.as_str(), "Succeeded" | "Failed")
        };
        if done {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the auto-sync never got there: {app:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_operation_in_progress_is_refused_and_nothing_is_touched() {
    let (w, kube) = (World::new(), Kube::plain());
    small_world(&kube, "sleep");
    let before = identities(&kube);
    let ran = kube.run(&w, &["migrations", "resync", "demo"]);
    ran.code(3);
    assert!(
        ran.stderr
            .contains("Application argocd/web-demo-dev already has an operation in progress"),
        "{}",
        ran.stderr
    );
    assert!(
        before.difference(&identities(&kube)).next().is_none(),
        "nothing deleted"
    );
}

#[test]
fn no_failed_jobs_is_nothing_to_do() {
    let (w, kube) = (World::new(), Kube::plain());
    small_world(&kube, "ok");
    let ran = kube.run(&w, &["migrations", "resync", "demo", "-o", "json"]);
    ran.code(0);
    assert!(ran.stdout.contains("nothing to do"), "{}", ran.stdout);
    let r = report(&ran);
    assert_eq!(step(&r, "failed")["outputs"]["count"], 0);
    assert_eq!(step(&r, "delete")["status"], "skipped");
    assert_eq!(step(&r, "sync")["status"], "skipped");
}

#[test]
fn a_hook_failing_again_is_reported_redacted_once_to_the_webhook() {
    let (w, kube) = (World::new(), Kube::plain());
    small_world(&kube, "fail");
    let (url, got) = crate::leaks::webhook("/services/T0/B0/Webhook7okenXyz");
    let ran = kube.run(
        &w,
        &[
            "migrations",
            "resync",
            "demo",
            "--notify",
            &url,
            "-o",
            "json",
        ],
    );
    ran.code(4);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        all.contains("ERROR: migration 0042 failed on ********"),
        "{all}"
    );
    let r = report(&ran);
    assert!(step(&r, "sync")["error"]
        .as_str()
        .unwrap()
        .contains("ERROR: migration 0042"));
    let messages = got.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "one message per run: {messages:?}");
    let text = serde_json::from_str::<Value>(&messages[0]).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("migration-resync") && text.contains("failed"),
        "{text}"
    );
    assert!(text.contains("ERROR: migration 0042"), "{text}");
    for secret in [SECRET, "Webhook7okenXyz"] {
        assert!(
            !text.contains(secret) && !all.contains(secret),
            "{secret} leaked"
        );
        assert!(
            !w.checkpoints().concat().contains(secret),
            "{secret} in the checkpoint"
        );
    }
    let ok = kube.run(&w, &["migrations", "resync", "demo", "--notify", &url]);
    ok.code(4);
    assert_eq!(
        got.lock().unwrap().len(),
        2,
        "again exactly one message for the second run"
    );
}

#[test]
fn a_job_left_on_the_hook_finalizer_is_released_once_the_operation_is_over() {
    let (w, kube) = (World::new(), Kube::start());
    small_world(&kube, "fail");
    let merge = |kind: &str, name: &str, body: Value| {
        let patch = kube::api::Patch::Merge(body);
        let pp = kube::api::PatchParams::default();
        kube.block_on(kube.api(kind, "web-demo-dev").patch(name, &pp, &patch))
            .unwrap();
    };
    // As if Argo CD's controller had restarted mid-hook: the finalizer stays after the operation.
    let held =
        serde_json::json!({"metadata": {"finalizers": ["argocd.argoproj.io/hook-finalizer"]}});
    merge("Job", "web-migrate", held);
    merge(
        "ConfigMap",
        "migration-mode",
        serde_json::json!({"data": {"mode": "ok"}}),
    );
    let ran = kube.run(&w, &["migrations", "resync", "demo"]);
    ran.code(0);
    assert!(
        ran.stderr
            .contains("so cnpgops removed that finalizer (only that one)"),
        "{}",
        ran.stderr
    );
}

#[test]
fn production_needs_allow_prod_and_a_confirmation_before_anything() {
    let w = World::new();
    let args = [
        "migrations",
        "resync",
        "synestra-io",
        "--env",
        "prod",
        "--kubeconfig",
        "/nonexistent",
    ];
    let ran = w.run(&args);
    ran.code(3);
    assert!(
        ran.stderr
            .contains("target `web-synestra-io-prod` is production; pass --allow-prod"),
        "{}",
        ran.stderr
    );
    let mut with_yes = args.to_vec();
    with_yes.push("--yes");
    w.run(&with_yes).code(3);
}
