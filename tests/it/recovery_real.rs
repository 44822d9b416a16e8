//! A recovery that cannot succeed, with the real CloudNativePG operator: CNPG's full-recovery
//! Job fails and CNPG retries it (backoffLimit 6, backoff 10 s → 6 min); cnpgops must report
//! CNPG's own reason within 2 minutes, while CNPG is still retrying, not at its wait's timeout.
use std::time::{Duration, Instant};

use crate::catalog::NS;
use crate::harness::World;
use crate::restore_world::shop_world;
use crate::sandbox::Kube;

/// The restore tests' shop world on the real operator: `shop-cnpg` (PostgreSQL 15) archiving to
/// the sandbox's S3 through CNPG's own barman-cloud calls, with one completed base backup.
fn archived_shop(kube: &Kube) -> crate::catalog::Store {
    let (s3, _) = shop_world(kube);
    kube.create(&format!(
        "apiVersion: postgresql.cnpg.io/v1\nkind: Backup\nmetadata: {{name: first, namespace: {NS}}}\nspec: {{cluster: {{name: shop-cnpg}}, method: barmanObjectStore}}\n"
    ));
    let t0 = Instant::now();
    loop {
        let b = kube.get("Backup", NS, "first").unwrap();
        match b["status"]["phase"].as_str() {
            Some("completed") => return s3,
            Some("failed") => panic!("the base backup failed: {b:#}"),
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(240), "backup: {b:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_recovery_that_cannot_succeed_is_reported_with_cnpgs_reason_while_cnpg_retries() {
    let (w, kube) = (World::new(), Kube::start());
    let s3 = archived_shop(&kube);
    let backup = kube.get("Backup", NS, "first").unwrap();
    let id = backup["status"]["backupId"].as_str().unwrap().to_string();
    // The archive loses its WAL: the base backup is listed, but no recovery can reach a
    // consistent state (CNPG checks for the redo point's WAL and fails its Job).
    let gone = s3.delete_prefix(&kube, "cnpg/shop-cnpg/wals/");
    assert!(gone > 0, "there were WAL files to delete");
    let t0 = Instant::now();
    let ran = kube.run(
        &w,
        &[
            "restore",
            "shop",
            "--env",
            "prod",
            "--backup-id",
            &id,
            "--to-cluster",
            "shop-new",
            "--yes",
        ],
    );
    let took = t0.elapsed();
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert!(
        took < Duration::from_secs(120),
        "reported in {took:?}, not within 2 minutes"
    );
    // CNPG is still retrying: its Job has neither failed for good nor used up its attempts.
    let job = kube
        .get("Job", NS, "shop-new-1-full-recovery")
        .expect("CNPG's full-recovery Job");
    let failed = job["status"]["failed"].as_u64().unwrap_or(0);
    let given_up = job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Failed" && c["status"] == "True");
    assert!((1..7).contains(&failed) && !given_up, "{:#}", job["status"]);
    // CNPG's own words, as its Pod logged them (read with kubectl, not the product).
    let logs = w
        .program("kubectl")
        .arg("--kubeconfig")
        .arg(&kube.kubeconfig)
        .args(["-n", NS, "logs", "job/shop-new-1-full-recovery"])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&logs.stdout);
    let reason =
        "encountered an error while checking the presence of first needed WAL in the archive";
    assert!(logs.contains(reason), "{logs}");
    assert!(
        ran.stderr.contains(&format!(
            "CNPG says: restore error: while restoring cluster: {reason}"
        )),
        "{}",
        ran.stderr
    );
}
