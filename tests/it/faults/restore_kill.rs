//! `cnpgops restore` in place SIGKILLed at every step boundary of runbooks/restore.yaml, each
//! followed by `cnpgops resume`: the old Cluster deleted exactly once (a new UID, the run's
//! label), the recovery applied once, every archived row back, Argo CD's auto-sync as it was,
//! the lock free. One shop sandbox; before each kill a row and a backup (a restored cluster
//! archives under a new server name). `--skip-safety-backup` except at the boundaries around
//! the safety backup. Also refresh-dev `--method recovery` SIGKILLed after its delete.

use std::time::{Duration, Instant};

use super::restore::SHOP_LEASE;
use super::*;
use crate::catalog::NS;
use crate::restore_world::*;

const STEPS: &[&str] = &[
    "plan",
    "pause_sync",
    "safety_backup",
    "delete",
    "apply",
    "wait",
    "verify",
    "restart_app",
    "report",
    "resume_sync",
];

/// Starts `args` parked after step `stop`, waits for that checkpoint of the running
/// `runbook` run and SIGKILLs it; the run's state then.
fn kill_run_after(kube: &Kube, w: &World, args: &[&str], runbook: &str, stop: &str) -> Value {
    kill_after(kube.cmd(w, args), stop, Duration::from_secs(180), || {
        w.checkpoints()
            .iter()
            .filter_map(|t| serde_json::from_str::<Value>(t).ok())
            .find(|s| s["runbook"]["name"] == runbook && s["status"] == "running")
    })
}

#[test]
fn restore_killed_at_every_step_boundary_resumes_and_deletes_once() {
    let kube = Kube::start();
    let (_s3, sync) = shop_world(&kube);
    let w = World::new();
    app_sql(
        &kube,
        "shop-cnpg",
        "create table marks (id serial primary key, label text)",
    );
    let t0 = Instant::now();
    for (k, stop) in STEPS.iter().enumerate() {
        let sql = format!("insert into marks (label) values ('before-{stop}')");
        app_sql(&kube, "shop-cnpg", &sql);
        kube.run(&w, &["backup", "shop", "--wait"]).code(0);
        let rows = marks(&kube, "shop-cnpg");
        let old_uid = kube.get("Cluster", NS, "shop-cnpg").unwrap()["metadata"]["uid"].clone();
        let mut args = vec![
            "--lock-ttl",
            "2s",
            "restore",
            "shop",
            "--env",
            "prod",
            "--latest",
            "--yes",
            "--allow-prod",
            // Approved: re-enable auto-sync over the recovered Cluster (restore.rs covers the
            // default, which leaves it paused and exits 3).
            "--resume-autosync",
        ];
        if !matches!(*stop, "safety_backup" | "delete") {
            args.push("--skip-safety-backup");
        }
        let state = kill_run_after(&kube, &w, &args, "restore", stop);
        let id = state["run_id"].as_str().unwrap().to_string();
        if let Some(next) = STEPS.get(k + 1) {
            assert_eq!(
                step(&state, next)["status"],
                "pending",
                "killed after {stop}"
            );
        }
        resume(&kube, &w, &id, &["--allow-prod"]).code(0);

        let done = run_state(&w, &id);
        assert_eq!(done["status"], "succeeded", "killed after {stop}");
        for once in ["delete", "apply"] {
            assert_eq!(
                step(&done, once)["attempts"],
                1,
                "{once} once, killed after {stop}"
            );
        }
        let c = kube.get("Cluster", NS, "shop-cnpg").expect("restored");
        assert_ne!(
            c["metadata"]["uid"], old_uid,
            "the old cluster is gone ({stop})"
        );
        assert_eq!(c["metadata"]["labels"]["cnpgops.io/run-id"], id.as_str());
        assert_eq!(
            marks(&kube, "shop-cnpg"),
            rows,
            "every row, killed after {stop}"
        );
        assert_eq!(
            automated(&kube, "shop-prod"),
            sync,
            "auto-sync, killed after {stop}"
        );
        let lease = kube.get("Lease", NS, SHOP_LEASE);
        let holder = lease.as_ref().map(|l| l["spec"]["holderIdentity"].clone());
        assert!(
            holder.is_none_or(|h| h.as_str().unwrap_or("").is_empty()),
            "the lock is released ({stop})"
        );
    }
    eprintln!(
        "restore killed at {} boundaries, each resumed: {:.0}s",
        STEPS.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn refresh_dev_by_recovery_killed_after_its_delete_resumes_and_leaves_prod_alone() {
    let kube = Kube::start();
    kube.scenario("synestra.yaml");
    let w = World::new();
    kube.run(&w, &["backup", "synestra-io", "--wait"]).code(0);
    let prod0 = fingerprint(&kube, PROD);
    let prod_before = kube.get("Cluster", NS, PROD).unwrap();
    let dev_uid = kube.get("Cluster", NS, DEV).unwrap()["metadata"]["uid"].clone();

    let args = [
        "--lock-ttl",
        "2s",
        "refresh-dev",
        "synestra-io",
        "--method",
        "recovery",
        "--yes",
    ];
    let state = kill_run_after(&kube, &w, &args, "refresh-dev-recovery", "delete");
    assert!(
        kube.get("Cluster", NS, DEV).is_none(),
        "deleted before the kill"
    );
    assert_eq!(step(&state, "apply")["status"], "pending");
    let id = state["run_id"].as_str().unwrap().to_string();
    resume(&kube, &w, &id, &[]).code(0);

    let done = run_state(&w, &id);
    assert_eq!(done["status"], "succeeded");
    assert_eq!(step(&done, "delete")["attempts"], 1, "deleted once");
    assert_eq!(step(&done, "apply")["attempts"], 1, "applied once");
    let dev = kube.get("Cluster", NS, DEV).unwrap();
    assert_ne!(dev["metadata"]["uid"], dev_uid, "a new dev cluster");
    assert_eq!(dev["metadata"]["labels"]["cnpgops.io/run-id"], id.as_str());
    let prod = fingerprint(&kube, PROD);
    assert_same(("prod before", &prod0), ("prod", &prod), "prod unchanged");
    let dev = fingerprint(&kube, DEV);
    assert_same(("prod", &prod), ("dev", &dev), "dev is prod");
    let prod_after = kube.get("Cluster", NS, PROD).unwrap();
    for field in ["uid", "generation"] {
        assert_eq!(
            prod_after["metadata"][field],
            prod_before["metadata"][field]
        );
    }
    assert_eq!(prod_after["spec"], prod_before["spec"], "prod untouched");
    assert_eq!(replicas(&kube, APP_NS, "web"), 2, "the app is back");
    assert!(lock_released(&kube), "the lock is released");
}
