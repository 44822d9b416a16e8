//! `cnpgops restore` (in-tree store, Argo CD managed, into new clusters) under API faults (503
//! and 500 on the recovery Cluster's apply, 409 on the Argo CD Application PATCH, dropped
//! watches and 410 Gone during the wait), S3 SlowDown on the catalog read, and PostgreSQL
//! refusing the app's connections at `verify`; one shop sandbox for every case in turn.

use cnpgops_sandbox::world::s3_faults::{S3Fault, S3FaultKind};

use super::*;
use crate::catalog::{switch_wal, NS};
use crate::restore_world::*;

/// The restore Lease of `shop-cnpg`.
pub(super) const SHOP_LEASE: &str = "cnpgops-lock-databases-shop-cnpg";

/// `cnpgops restore shop --env prod --latest --to-cluster NAME --yes` in a fresh world.
fn restore_to(kube: &Kube, name: &str, extra: &[&str]) -> (World, Ran) {
    let base = [
        "restore",
        "shop",
        "--env",
        "prod",
        "--latest",
        "--to-cluster",
        name,
        "--yes",
    ];
    run_local(kube, &[&base[..], extra].concat())
}

fn run_id(w: &World) -> String {
    w.only_run()["run_id"].as_str().unwrap().to_string()
}

/// A finished restore into `name`: succeeded, the Cluster applied once by this run, the rows
/// of the source, Argo CD's auto-sync as it was, the lock free.
#[track_caller]
pub(super) fn restored(kube: &Kube, w: &World, name: &str, rows: &[String], sync: &Value) {
    let state = w.only_run();
    assert_eq!(state["status"], "succeeded", "{state:#}");
    let id = state["run_id"].as_str().unwrap();
    let mine = kube.list("Cluster", NS, &format!("cnpgops.io/run-id={id}"));
    let names: Vec<_> = mine.iter().map(|c| c["metadata"]["name"].clone()).collect();
    assert_eq!(names, [name], "one recovery Cluster, this run's");
    assert_eq!(marks(kube, name), rows, "the source's rows");
    assert_eq!(&automated(kube, "shop-prod"), sync, "auto-sync is back");
    assert!(
        kube.get("Lease", NS, SHOP_LEASE)
            .is_none_or(|l| l["spec"]["holderIdentity"]
                .as_str()
                .unwrap_or("")
                .is_empty()),
        "the lock is released"
    );
}

#[test]
fn restore_under_api_s3_and_postgres_faults() {
    let kube = Kube::start();
    let (_s3, sync) = shop_world(&kube);
    let source_uid = kube.get("Cluster", NS, "shop-cnpg").unwrap()["metadata"]["uid"].clone();
    app_sql(
        &kube,
        "shop-cnpg",
        "create table marks (id serial primary key, label text); insert into marks (label) values ('r0')",
    );
    kube.run(&World::new(), &["backup", "shop", "--wait"])
        .code(0);
    let rows = marks(&kube, "shop-cnpg");

    // 503 on the recovery Cluster's apply: kube-rs retries it, the restore succeeds.
    let hits = served(&kube);
    api_fault(&kube, "PATCH", "/clusters/shop-a", 503, 1);
    let (w, ran) = restore_to(&kube, "shop-a", &[]);
    ran.code(0);
    assert_eq!(served(&kube) - hits, 1, "the 503 was served, then retried");
    restored(&kube, &w, "shop-a", &rows, &sync);

    // 500 on the apply: the step fails naming itself and `cnpgops resume`; auto-sync is back
    // meanwhile; resume applies it once and finishes.
    api_fault(&kube, "PATCH", "/clusters/shop-b", 500, 1);
    let (w, ran) = restore_to(&kube, "shop-b", &[]);
    let id = run_id(&w);
    failed_naming_step(&ran, "apply", &id);
    assert_eq!(
        automated(&kube, "shop-prod"),
        sync,
        "auto-sync back after the failure"
    );
    assert!(
        kube.get("Cluster", NS, "shop-b").is_none(),
        "nothing applied"
    );
    kube.run(&w, &["resume", &id, "--yes"]).code(0);
    let apply = step(&w.only_run(), "apply")["attempts"].clone();
    assert_eq!(apply, 2, "the failed attempt and the resumed one");
    restored(&kube, &w, "shop-b", &rows, &sync);

    // 409 on the Application PATCH (a concurrent edit): re-read, paused once, restored.
    let hits = served(&kube);
    api_fault(&kube, "PATCH", "/applications/shop-prod", 409, 1);
    let (w, ran) = restore_to(&kube, "shop-c", &[]);
    ran.code(0);
    assert_eq!(served(&kube) - hits, 1, "the 409 was served");
    let state = w.only_run();
    assert_eq!(step(&state, "pause_sync")["attempts"], 1, "paused once");
    assert_eq!(step(&state, "pause_sync")["outputs"]["automated"], sync);
    restored(&kube, &w, "shop-c", &rows, &sync);

    // Watches dropped and history compacted (410 Gone) all through the wait for healthy.
    let chaos = WatchChaos::start(&kube);
    let (w, ran) = restore_to(&kube, "shop-d", &[]);
    let rounds = chaos.rounds();
    ran.code(0);
    assert!(rounds > 3, "watches dropped {rounds} times");
    restored(&kube, &w, "shop-d", &rows, &sync);

    // S3 SlowDown twice on the catalog's listings: retried, the same plan as without faults.
    let s3 = kube.sandbox().world.s3_faults();
    let (clean, ran) = restore_to(&kube, "shop-e", &["--dry-run"]);
    ran.code(0);
    let injected = s3.injected();
    // Only cnpgops' own client (aws-sdk-s3) is throttled: the instances' barman-cloud list too.
    let cnpgops = S3Fault::new("GET", "list-type=2", S3FaultKind::SlowDown, 2);
    s3.add(cnpgops.for_agent("aws-sdk-rust/"));
    let (w, ran) = restore_to(&kube, "shop-e", &[]);
    ran.code(0);
    assert_eq!(s3.injected() - injected, 2, "two SlowDown answers served");
    let plan = |w: &World| step(&w.only_run(), "plan")["outputs"].clone();
    let (a, b) = (plan(&clean), plan(&w));
    for key in ["target", "source_timeline", "uid", "store"] {
        assert_eq!(a[key], b[key], "the same plan: {key}");
    }
    restored(&kube, &w, "shop-e", &rows, &sync);

    // PostgreSQL refusing the app's connections on the recovered cluster (CONNECTION LIMIT 0,
    // written on the source and replayed): `verify` fails naming itself; once the limit is
    // lifted on the new cluster, resume finishes.
    let addr = crate::refresh_world::address(&kube, "shop-cnpg");
    let pw = app_password(&kube, "shop-cnpg");
    let held = kube.block_on(crate::refresh_world::connect(&addr, "app", &pw));
    let limit = |c: &tokio_postgres::Client, n: i32| {
        let sql = format!("ALTER DATABASE app CONNECTION LIMIT {n}");
        kube.block_on(c.batch_execute(&sql)).unwrap();
    };
    limit(&held, 0);
    switch_wal(&kube, "shop-cnpg", 1);
    let (w, ran) = restore_to(&kube, "shop-v", &[]);
    limit(&held, -1);
    let id = run_id(&w);
    failed_naming_step(&ran, "verify", &id);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(all.contains("connection"), "the cause is shown: {all}");
    assert!(!all.contains(&pw), "no password: {all}");
    assert_eq!(
        automated(&kube, "shop-prod"),
        sync,
        "auto-sync back after the failure"
    );
    let su = superuser_password(&kube, "shop-v");
    let addr = crate::refresh_world::address(&kube, "shop-v");
    let admin = kube.block_on(crate::refresh_world::connect(&addr, "postgres", &su));
    limit(&admin, -1);
    kube.run(&w, &["resume", &id, "--yes"]).code(0);
    restored(&kube, &w, "shop-v", &rows, &sync);

    let source = kube.get("Cluster", NS, "shop-cnpg").unwrap();
    assert_eq!(
        source["metadata"]["uid"], source_uid,
        "the source is untouched"
    );
    assert_eq!(marks(&kube, "shop-cnpg"), rows);
}
