//! refresh-dev refusals (exit 3) and bad input (exit 2): nothing changes, and the message
//! names what was refused or missing and where it was looked for.

use crate::fingerprint::{self as fp, Fingerprint};
use crate::harness::World;
use crate::refresh_world::{self as rw, DEV_PASSWORD};
use crate::sandbox::{replicas, Kube};

/// Nothing a refresh would touch has changed.
fn unchanged(kube: &Kube, before: &Fingerprint) {
    assert_eq!(replicas(kube, "web-shop-dev", "web"), 2);
    assert!(
        kube.list("Job", "databases", "cnpgops.io/step").is_empty(),
        "no Job"
    );
    let dev = fp::of(kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    fp::assert_same(("dev before", before), ("dev", &dev), "dev untouched");
    assert!(dev.0.contains_key("relation public.dev_only"));
}

#[test]
fn refusals_and_bad_input_change_nothing() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    let before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);

    let ran = kube.run(&w, &["refresh-dev", "shop", "--to", "prod", "--yes"]);
    ran.code(3);
    assert!(
        ran.stderr.contains("production") && ran.stderr.contains("databases/shop-cnpg"),
        "{}",
        ran.stderr
    );
    let ran = kube.run(
        &w,
        &[
            "run",
            "refresh-dev",
            "-p",
            "app=shop",
            "-p",
            "to=prod",
            "--yes",
            "--allow-prod",
        ],
    );
    ran.code(3);
    assert!(
        ran.stderr.contains("never be a refresh target"),
        "runbook guard: {}",
        ran.stderr
    );

    let ran = kube.run(&w, &["refresh-dev", "shop"]);
    ran.code(3);
    assert!(ran.stderr.contains("--yes"), "no terminal: {}", ran.stderr);

    let ran = kube.run(
        &w,
        &[
            "refresh-dev",
            "shop",
            "--yes",
            "--image",
            "ghcr.io/cloudnative-pg/postgresql:14.9",
        ],
    );
    ran.code(3);
    assert!(
        ran.stderr.contains("major version mismatch"),
        "{}",
        ran.stderr
    );

    kube.create(&format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: cnpgops-lock-databases-shop-dev-cnpg, namespace: databases}}\nspec: {{holderIdentity: other-run@elsewhere, leaseDurationSeconds: 600, acquireTime: '{now}', renewTime: '{now}'}}\n",
        now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ")
    ));
    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    ran.code(3);
    assert!(
        ran.stderr.contains("other-run@elsewhere"),
        "lock held: {}",
        ran.stderr
    );
    kube.block_on(
        kube.api("Lease", "databases")
            .delete("cnpgops-lock-databases-shop-dev-cnpg", &Default::default()),
    )
    .unwrap();

    // A source that never becomes healthy: its bootstrap secret names another user, and CNPG
    // is told not to reconcile it (`cnpg.io/reconciliationLoop: disabled`).
    kube.create("apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: sick-cnpg, namespace: databases, annotations: {cnpg.io/reconciliationLoop: disabled}}\nspec: {instances: 1, storage: {size: 1Gi}, bootstrap: {initdb: {database: sick, owner: sick, secret: {name: sick-owner}}}}\n");
    kube.create("apiVersion: v1\nkind: Secret\nmetadata: {name: sick-owner, namespace: databases}\nstringData: {username: not-sick, password: sick-Pa55}\n");
    let ran = kube.run(
        &w,
        &["refresh-dev", "sick", "--yes", "--config", "/dev/null"],
    );
    ran.code(3);
    assert!(
        ran.stderr
            .contains("Cluster databases/sick-cnpg is not healthy"),
        "{}",
        ran.stderr
    );

    let ran = kube.run(&w, &["refresh-dev", "nope", "--yes"]);
    ran.code(2);
    assert!(
        ran.stderr
            .contains("failed to find Cluster databases/nope-cnpg"),
        "{}",
        ran.stderr
    );

    let config = w.path("config.yaml");
    std::fs::write(
        &config,
        "profiles:\n  lost:\n    credentials_secret: \"{app}-{env}-missing\"\n",
    )
    .unwrap();
    let ran = kube.run(
        &w,
        &[
            "refresh-dev",
            "shop",
            "--yes",
            "--config",
            config.to_str().unwrap(),
            "--profile",
            "lost",
        ],
    );
    ran.code(2);
    assert!(
        ran.stderr
            .contains("failed to find Secret databases/shop-prod-missing"),
        "{}",
        ran.stderr
    );
    unchanged(&kube, &before);
}

#[test]
fn dry_run_reads_for_real_and_writes_nothing() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    let before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    let ran = kube.run(&w, &["refresh-dev", "shop", "--dry-run"]);
    ran.code(0);
    for expected in [
        "dry run: server accepted creating Job databases/cnpgops-refresh-shop-dev-cnpg-",
        "dry run: server accepted scaling Deployment web-shop-dev/web from 2 to 0",
        "dry run: would terminate the other sessions",
        "dry run: server accepted annotating Cluster databases/shop-dev-cnpg",
        "source: PostgreSQL 15",
    ] {
        assert!(
            ran.stderr.contains(expected),
            "missing `{expected}` in:\n{}",
            ran.stderr
        );
    }
    assert!(
        kube.list("Pod", "databases", "cnpgops.io/step").is_empty(),
        "no pod started"
    );
    let cluster = kube.get("Cluster", "databases", "shop-dev-cnpg").unwrap();
    assert!(cluster["metadata"]["annotations"]
        .get("cnpgops.io/refreshed-from")
        .is_none());
    unchanged(&kube, &before);
}
