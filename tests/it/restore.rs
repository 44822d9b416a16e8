//! `cnpgops restore` and `cnpgops refresh-dev --method recovery` against the sandbox: real
//! PostgreSQL archiving WAL and taking base backups with real barman-cloud into the S3 server,
//! recovered by CNPG's `bootstrap.recovery`. Rows are written at known times around a target;
//! bad input changes nothing (every object keeps its UID); a run SIGKILLed after the delete
//! resumes, applies the recovery and never deletes twice; Argo CD auto-sync comes back even
//! when the restore fails; the plugin form restores a backup and the latest WAL.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::catalog::{cluster, object_store, store, switch_wal, NS};
use crate::faults::step;
use crate::harness::World;
use crate::refresh_world::wait_healthy;
use crate::restore_world::*;
use crate::sandbox::Kube;

#[test]
fn in_tree_point_in_time_in_place_resumes_after_a_kill_and_bad_input_changes_nothing() {
    let (kube, w) = (Kube::start(), World::new());
    let (s3, sync) = shop_world(&kube);
    cluster(&kube, "plain-cnpg", "");
    wait_healthy(&kube, "plain-cnpg");
    app_sql(&kube, "shop-cnpg", "create table marks (id serial primary key, label text); insert into marks (label) values ('before-backup')");
    kube.run(&w, &["backup", "shop", "--wait"]).code(0);
    app_sql(
        &kube,
        "shop-cnpg",
        "insert into marks (label) values ('before-target')",
    );
    std::thread::sleep(Duration::from_millis(1200));
    let target = app_sql(&kube, "shop-cnpg", NOW).remove(0);
    std::thread::sleep(Duration::from_millis(1200));
    app_sql(
        &kube,
        "shop-cnpg",
        "insert into marks (label) values ('after-target')",
    );
    switch_wal(&kube, "shop-cnpg", 1);

    // Bad input: exit 2, a clear message, no secret, nothing deleted or recreated.
    let before = identities(&kube);
    let wrong = "wrong-Secret-Value-4f2a90";
    let bad = |app: &str, args: &[&str], needles: &[&str]| {
        let base = ["restore", app, "--env", "prod", "--yes", "--allow-prod"];
        let ran = kube.run(&w, &[&base[..], args].concat());
        ran.code(2);
        let all = format!("{}{}", ran.stdout, ran.stderr);
        for n in needles {
            assert!(all.contains(n), "{n}: {all}");
        }
        for secret in [wrong, s3.secret.as_str()] {
            assert!(!all.contains(secret), "{all}");
        }
    };
    bad(
        "shop",
        &["--target-time", "2001-01-01T00:00:00Z"],
        &[
            "outside the recoverability window of s3://backups/cnpg/shop-cnpg",
            " .. ",
        ],
    );
    bad(
        "shop",
        &["--target-time", "2026-11-24 01:00:00"],
        &["has no timezone"],
    );
    bad(
        "shop",
        &["--backup-id", "20000101T000000"],
        &["backup `20000101T000000` is not in s3://backups/cnpg/shop-cnpg"],
    );
    bad(
        "shop",
        &["--latest", "--to-cluster", "plain-cnpg"],
        &["Cluster databases/plain-cnpg already exists"],
    );
    bad(
        "plain",
        &["--latest"],
        &["Cluster databases/plain-cnpg has no backup configuration"],
    );
    set_secret_key(&kube, "ACCESS_SECRET_KEY", wrong);
    bad(
        "shop",
        &["--latest"],
        &["SignatureDoesNotMatch", "Secret databases/s3-creds"],
    );
    set_secret_key(&kube, "ACCESS_SECRET_KEY", &s3.secret);
    // Two targets: a usage error; in place on production without --allow-prod: refused (3)
    // before anything is read.
    let two = [
        "restore",
        "shop",
        "--env",
        "prod",
        "--latest",
        "--backup-id",
        "x",
    ];
    let ran = kube.run(&w, &two);
    ran.code(2);
    assert!(ran.stderr.contains("cannot be used with"), "{}", ran.stderr);
    let ran = kube.run(
        &w,
        &["restore", "shop", "--env", "prod", "--latest", "--yes"],
    );
    ran.code(3);
    assert!(ran.stderr.contains("pass --allow-prod"), "{}", ran.stderr);
    assert_eq!(identities(&kube), before, "bad input changed nothing");
    assert_eq!(automated(&kube, "shop-prod"), sync);

    // A restore that fails (the recovery cannot be healthy within 1s) restores auto-sync.
    let ran = kube.run(
        &w,
        &[
            "restore",
            "shop",
            "--env",
            "prod",
            "--latest",
            "--to-cluster",
            "shop-fail",
            "--timeout",
            "1s",
            "--yes",
        ],
    );
    ran.code(4);
    assert_eq!(
        automated(&kube, "shop-prod"),
        sync,
        "auto-sync is back: {}",
        ran.stdout
    );
    let failed = run_with(&w, "restore", "failed").expect("the failed run");
    assert_eq!(step(&failed, "wait")["status"], "failed");
    assert_eq!(step(&failed, "pause_sync")["status"], "succeeded");
    assert_eq!(step(&failed, "resume_sync")["status"], "succeeded");
    delete_cluster(&kube, "shop-fail");

    // In place to the target; SIGKILL right after the delete, then resume.
    let old_uid = kube.get("Cluster", NS, "shop-cnpg").unwrap()["metadata"]["uid"].clone();
    let mut child = kube
        .cmd(
            &w,
            &[
                "--lock-ttl",
                "2s",
                "restore",
                "shop",
                "--env",
                "prod",
                "--target-time",
                &target,
                "--yes",
                "--allow-prod",
            ],
        )
        .env("CNPGOPS_PAUSE_AFTER_STEP", "delete")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let state = loop {
        if let Some(s) = run_with(&w, "restore", "running") {
            if step(&s, "delete")["status"] == "succeeded" {
                break s;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "cnpgops exited early");
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "the delete never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        kube.get("Cluster", NS, "shop-cnpg").is_none(),
        "deleted before the kill"
    );
    assert_eq!(step(&state, "apply")["status"], "pending");
    std::thread::sleep(Duration::from_millis(2500)); // the killed run's lock expires
    let id = state["run_id"].as_str().unwrap();
    let resumed = kube.run(&w, &["resume", id, "--yes", "--allow-prod"]);
    // The recovered Cluster no longer matches Git: automated sync stays paused (exit 3) with
    // what to commit and the command that re-enables it, which works as printed.
    resumed.code(3);
    assert!(
        automated(&kube, "shop-prod").is_null(),
        "auto-sync stays paused"
    );
    let said = resumed.stderr.replace('\n', " ");
    assert!(said.contains("no longer matches Git"), "{said}");
    assert!(
        said.contains(&format!("shop-cnpg-{id}")),
        "the new server name to commit: {said}"
    );
    let patch = said
        .split('`')
        .find(|p| p.starts_with("kubectl -n argocd patch application shop-prod"))
        .unwrap_or_else(|| panic!("the re-enable command: {said}"));
    let patch = patch.replace("'", "");
    let mut words: Vec<&str> = patch.split(' ').collect();
    let body = words.pop().unwrap();
    let ok = std::process::Command::new(words[0])
        .args(&words[1..])
        .arg(body)
        .arg("--kubeconfig")
        .arg(&kube.kubeconfig)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let done = run_state(&w, id);
    assert_eq!(done["status"], "refused");
    assert_eq!(
        step(&done, "report")["status"],
        "succeeded",
        "the restore itself finished"
    );
    assert_eq!(step(&done, "delete")["attempts"], 1, "deleted once");
    let restored = kube.get("Cluster", NS, "shop-cnpg").unwrap();
    assert_ne!(restored["metadata"]["uid"], old_uid, "a new cluster");
    assert_eq!(restored["metadata"]["labels"]["cnpgops.io/run-id"], id);
    assert_eq!(
        restored["status"]["timelineID"], 2,
        "promoted on a new timeline"
    );
    assert_eq!(
        restored["spec"]["backup"]["barmanObjectStore"]["serverName"],
        format!("shop-cnpg-{id}"),
        "archives under a new server name"
    );
    assert!(restored["spec"]["bootstrap"]["recovery"].is_object());
    assert_eq!(
        marks(&kube, "shop-cnpg"),
        ["before-backup", "before-target"]
    );
    assert_eq!(automated(&kube, "shop-prod"), sync, "auto-sync is back");
    let web = kube.get("Deployment", "web-shop-prod", "web").unwrap();
    assert!(
        web["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "the app was restarted: {web:#}"
    );
    let safety = kube
        .get("Backup", NS, &format!("shop-cnpg-{id}"))
        .expect("safety backup");
    assert_eq!(safety["status"]["phase"], "completed");
    assert!(
        resumed
            .stderr
            .contains(&format!("safety backup: shop-cnpg-{id}")),
        "the report names the safety backup: {}",
        resumed.stderr
    );
}

#[test]
fn plugin_store_restores_a_backup_and_the_latest_wal_into_new_clusters() {
    let (kube, w) = (Kube::start(), World::new());
    kube.namespace(NS);
    let s3 = store(&kube);
    object_store(&kube, "store", &s3.endpoint, "plug");
    let plugin = "  plugins:\n  - {name: barman-cloud.cloudnative-pg.io, isWALArchiver: true, parameters: {barmanObjectName: store}}\n";
    cluster(&kube, "web-cnpg", plugin);
    wait_healthy(&kube, "web-cnpg");
    let source_uid = kube.get("Cluster", NS, "web-cnpg").unwrap()["metadata"]["uid"].clone();

    app_sql(&kube, "web-cnpg", "create table marks (id serial primary key, label text); insert into marks (label) values ('before-backup')");
    kube.run(&w, &["backup", "web", "--wait"]).code(0);
    let made = kube.list("Backup", NS, "cnpg.io/cluster=web-cnpg");
    let id = made[0]["status"]["backupId"].as_str().unwrap().to_string();
    app_sql(
        &kube,
        "web-cnpg",
        "insert into marks (label) values ('after-backup')",
    );
    switch_wal(&kube, "web-cnpg", 1);

    let ran = kube.run(
        &w,
        &[
            "restore",
            "web",
            "--env",
            "prod",
            "--backup-id",
            &id,
            "--to-cluster",
            "web-b",
            "--yes",
        ],
    );
    ran.code(0);
    assert_eq!(
        marks(&kube, "web-b"),
        ["before-backup"],
        "that backup, as it ended"
    );
    let b = kube.get("Cluster", NS, "web-b").unwrap();
    assert_eq!(
        b["spec"]["externalClusters"][0]["plugin"]["parameters"],
        json!({"barmanObjectName": "store", "serverName": "web-cnpg"})
    );
    let own = b["spec"]["plugins"][0]["parameters"]["serverName"]
        .as_str()
        .unwrap();
    assert!(own.starts_with("web-b-"), "{own}");
    assert!(
        ran.stderr.contains("safety backup: not needed"),
        "{}",
        ran.stderr
    );

    // A dry run reads for real, sends every write as a dry run: nothing changes.
    let before = identities(&kube);
    for to in [&["--to-cluster", "web-d"][..], &[]] {
        let args = [
            &["restore", "web", "--env", "prod", "--latest", "--dry-run"][..],
            to,
        ]
        .concat();
        let ran = kube.run(&w, &args);
        ran.code(0);
        assert!(
            ran.stderr.contains("dry run: would log in"),
            "{}",
            ran.stderr
        );
    }
    assert_eq!(identities(&kube), before, "a dry run changes nothing");

    let ran = kube.run(
        &w,
        &[
            "restore",
            "web",
            "--env",
            "prod",
            "--latest",
            "--to-cluster",
            "web-l",
            "--yes",
        ],
    );
    ran.code(0);
    assert_eq!(
        marks(&kube, "web-l"),
        ["before-backup", "after-backup"],
        "every archived WAL"
    );

    let source = kube.get("Cluster", NS, "web-cnpg").unwrap();
    assert_eq!(
        source["metadata"]["uid"], source_uid,
        "the source is untouched"
    );
    assert_eq!(marks(&kube, "web-cnpg"), ["before-backup", "after-backup"]);
}

#[test]
fn refresh_dev_by_recovery_recreates_dev_at_prods_target_and_leaves_prod_alone() {
    let (kube, w) = (Kube::start(), World::new());
    kube.scenario("synestra.yaml");
    let (prod, dev, pw) = (
        "synestra-io-cnpg",
        "synestra-io-dev-cnpg",
        "sandbox-initdb-Pa55",
    );
    let sql = |cluster: &str, text: &str| query(&kube, cluster, "synestra_io", pw, text);
    sql(
        prod,
        "insert into pages (slug, title) values ('before-target', 'kept')",
    );
    std::thread::sleep(Duration::from_millis(1200));
    let target = sql(prod, NOW).remove(0);
    std::thread::sleep(Duration::from_millis(1200));
    sql(
        prod,
        "insert into pages (slug, title) values ('after-target', 'not kept')",
    );
    // A backup ends with a WAL switch: both inserts are archived.
    kube.run(&w, &["backup", "synestra-io", "--wait"]).code(0);
    let prod_before = kube.get("Cluster", NS, prod).unwrap();

    let ran = kube.run(
        &w,
        &[
            "refresh-dev",
            "synestra-io",
            "--method",
            "recovery",
            "--target-time",
            &target,
            "--yes",
        ],
    );
    ran.code(0);

    let slugs = |cluster: &str| {
        sql(cluster, "select slug from pages where slug in ('before-target', 'after-target', 'dev-only') order by slug")
    };
    assert_eq!(slugs(dev), ["before-target"], "dev is prod at the target");
    assert_eq!(sql(dev, "select count(*) from pages"), ["501"]);
    assert_eq!(
        sql(
            dev,
            "select count(*) from pg_tables where tablename = 'dev_scratch'"
        ),
        ["0"],
        "dev-only objects are gone"
    );
    let prod_after = kube.get("Cluster", NS, prod).unwrap();
    for field in ["uid", "generation"] {
        assert_eq!(
            prod_after["metadata"][field],
            prod_before["metadata"][field]
        );
    }
    assert_eq!(prod_after["spec"], prod_before["spec"], "prod untouched");
    assert_eq!(slugs(prod), ["after-target", "before-target"]);
    let dev_now = kube.get("Cluster", NS, dev).unwrap();
    assert_eq!(
        dev_now["spec"]["bootstrap"]["recovery"]["secret"]["name"], "synestra-io-initdb-secret",
        "dev keeps its own app credentials"
    );
    assert!(
        dev_now["spec"].get("backup").is_none(),
        "dev archives nowhere"
    );
    let web = kube
        .get("Deployment", "web-synestra-io-dev", "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 2, "the dev app is back");
}
