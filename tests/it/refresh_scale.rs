//! refresh-dev at the scale of real schemas and real volumes: a schema of 5,000 tables
//! refreshes and checkpoints (the run-state ConfigMap stays small: the per-table inventory
//! lives in artifacts beside it); a lock table too small for the one transaction and a data
//! volume too full for the source are refused at preflight with dev unchanged; extensions a
//! superuser created (with their comments) do not fail the restore run as the owner; the
//! dump lands on a generic ephemeral volume the real ephemeral-volume controller creates.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};
use tokio_postgres::Client;

use crate::fingerprint as fp;
use crate::harness::World;
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::restore_world::superuser_password;
use crate::sandbox::{replicas, Kube};

const LIMIT: usize = 1024 * 1024;

fn patch_cluster(kube: &Kube, cluster: &str, patch: Value) {
    kube.block_on(kube.api("Cluster", "databases").patch(
        cluster,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    ))
    .unwrap();
}

/// Sets `spec.postgresql.parameters.max_locks_per_transaction` and waits until the server
/// runs with it (CNPG restarts the instance for it).
fn set_max_locks(kube: &Kube, cluster: &str, owner: &str, password: &str, value: &str) {
    patch_cluster(
        kube,
        cluster,
        json!({"spec": {"postgresql": {"parameters": {"max_locks_per_transaction": value}}}}),
    );
    let addr = rw::address(kube, cluster);
    let t0 = Instant::now();
    loop {
        let now = kube.block_on(async {
            let c = rw::try_connect(&addr, owner, password).await.ok()?;
            let row = c
                .query_one("SHOW max_locks_per_transaction", &[])
                .await
                .ok()?;
            Some(row.get::<_, String>(0))
        });
        if now.as_deref() == Some(value) {
            // CNPG restarts the primary for this parameter and reports the Cluster healthy
            // again a moment after the server is back.
            return rw::wait_healthy(kube, cluster);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "never {value}: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The cluster's superuser on database `db` (turning `enableSuperuserAccess` on).
fn superuser(kube: &Kube, cluster: &str, db: &str) -> Client {
    patch_cluster(
        kube,
        cluster,
        json!({"spec": {"enableSuperuserAccess": true}}),
    );
    let addr = rw::address(kube, cluster);
    let (host, port) = addr.rsplit_once(':').unwrap();
    let t0 = Instant::now();
    loop {
        if kube
            .get("Secret", "databases", &format!("{cluster}-superuser"))
            .is_some()
        {
            let mut config = tokio_postgres::Config::new();
            config.host(host).port(port.parse().unwrap());
            config
                .user("postgres")
                .password(superuser_password(kube, cluster));
            config.dbname(db);
            let connected = kube.block_on(async {
                let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                Ok::<_, tokio_postgres::Error>(client)
            });
            if let Ok(c) = connected {
                return c;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no superuser");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `n` tables `wide.t<i>` with a key, a text column and one row, as the owner, in batches.
fn tables(kube: &Kube, cluster: &str, owner: &str, password: &str, n: usize) {
    let addr = rw::address(kube, cluster);
    kube.block_on(async {
        let c = rw::connect(&addr, owner, password).await;
        c.batch_execute("CREATE SCHEMA wide").await.unwrap();
        for start in (0..n).step_by(250) {
            let sql: String = (start..(start + 250).min(n))
                .map(|i| {
                    format!(
                        "CREATE TABLE wide.t{i} (id int PRIMARY KEY, v text NOT NULL); \
                         INSERT INTO wide.t{i} VALUES ({i}, 'row of t{i}');"
                    )
                })
                .collect();
            c.batch_execute(&sql).await.unwrap();
        }
    });
}

/// The run-state ConfigMap of the one run in namespace `ops`, and the bytes its artifacts hold.
fn state_sizes(kube: &Kube) -> (usize, usize, Value) {
    let maps = kube.list("ConfigMap", "ops", "app.kubernetes.io/managed-by=cnpgops");
    let size = |cm: &Value| -> usize {
        cm["data"]
            .as_object()
            .map(|d| d.values().filter_map(Value::as_str).map(str::len).sum())
            .unwrap_or(0)
    };
    let component = |cm: &Value| cm["metadata"]["labels"]["app.kubernetes.io/component"].clone();
    let states: Vec<&Value> = maps
        .iter()
        .filter(|c| component(c) == "run-state")
        .collect();
    assert_eq!(states.len(), 1, "one run-state ConfigMap: {maps:#?}");
    let artifacts: usize = maps
        .iter()
        .filter(|c| component(c) == "run-artifact")
        .map(size)
        .sum();
    (size(states[0]), artifacts, states[0].clone())
}

#[test]
fn a_schema_of_5000_tables_refreshes_and_checkpoints_under_the_object_limit() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "big", 0);
    kube.namespace("ops");
    // Both sides need room for one transaction over 5,000 tables (pg_dump's locks on the
    // source; the clean + restore on dev): as a real cluster of this size would be set up.
    set_max_locks(&kube, "big-cnpg", "big", PROD_PASSWORD, "256");
    set_max_locks(&kube, "big-dev-cnpg", "big", DEV_PASSWORD, "512");
    let t0 = Instant::now();
    tables(&kube, "big-cnpg", "big", PROD_PASSWORD, 5000);
    eprintln!("created 5000 tables in {:.0?}", t0.elapsed());

    let t0 = Instant::now();
    let args = [
        "--state",
        "kubernetes",
        "--state-namespace",
        "ops",
        "refresh-dev",
        "big",
        "--yes",
    ];
    let ran = kube.run(&w, &args);
    let took = t0.elapsed();
    ran.code(0);
    eprintln!("refresh of 5000 tables took {took:.0?}");
    assert!(ran.stderr.contains("5000 tables"), "{}", ran.stderr);

    let (state, artifacts, cm) = state_sizes(&kube);
    eprintln!(
        "run-state ConfigMap: {state} bytes; inventory artifacts: {artifacts} bytes (inline, the state would have been about {} bytes)",
        state + artifacts
    );
    assert!(state < LIMIT / 4, "state {state} bytes");
    assert!(
        state + artifacts > LIMIT,
        "the inventory alone is over the limit: this test proves the point ({artifacts})"
    );
    let saved: Value = serde_json::from_str(cm["data"]["state.json"].as_str().unwrap()).unwrap();
    assert_eq!(saved["status"], "succeeded", "{saved:#}");
    let inventory = saved["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "dump_restore")
        .unwrap()["outputs"]["source_inventory"]
        .clone();
    assert_eq!(
        inventory["artifact"], "dump_restore.source_inventory",
        "{inventory}"
    );

    let prod = fp::of(&kube, "big-cnpg", "big", PROD_PASSWORD);
    let dev = fp::of(&kube, "big-dev-cnpg", "big", DEV_PASSWORD);
    assert!(
        prod.0
            .keys()
            .filter(|k| k.starts_with("relation wide."))
            .count()
            >= 5000
    );
    fp::assert_same(("prod", &prod), ("dev", &dev), "dev == prod");
}

#[test]
fn preflight_refuses_what_would_fail_mid_restore_and_extensions_of_a_superuser_restore() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    tables(&kube, "shop-cnpg", "shop", PROD_PASSWORD, 600);
    let before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    let unchanged = |what: &str| {
        let dev = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
        fp::assert_same(("dev before", &before), ("dev", &dev), what);
        assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2);
        assert!(
            kube.list("Job", "databases", "cnpgops.io/step=dump_restore")
                .is_empty(),
            "no restore Job"
        );
    };

    // A lock table of 10 x (100 + 0): the one transaction needs far more.
    set_max_locks(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD, "10");
    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    ran.code(3);
    for part in [
        "max_locks_per_transaction 10 x (max_connections",
        "spec.postgresql.parameters.max_locks_per_transaction to at least",
        "Cluster databases/shop-dev-cnpg",
    ] {
        assert!(
            ran.stderr.contains(part),
            "missing `{part}`: {}",
            ran.stderr
        );
    }
    unchanged("refused for locks");
    set_max_locks(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD, "256");

    // A data volume that is full: its claim (5Gi) holds all but 1 MiB.
    let claim_dir = kube.sandbox().dir.join("pvc/databases/shop-dev-cnpg-1");
    std::fs::create_dir_all(&claim_dir).unwrap();
    let filler = claim_dir.join("filler");
    let status = std::process::Command::new("fallocate")
        .args(["-l", &((5u64 << 30) - (1 << 20)).to_string()])
        .arg(&filler)
        .status()
        .unwrap();
    assert!(status.success());
    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    std::fs::remove_file(&filler).unwrap();
    ran.code(3);
    for part in [
        "refused: Cluster databases/shop-dev-cnpg has ",
        " free on its data volume (claim databases/shop-dev-cnpg-1 on node sandbox",
        // The filler and what the instance holds (its data and WAL): a little over 5 GiB.
        "the claim's 5.0 GiB less the 5.",
        "the restore needs about",
    ] {
        assert!(
            ran.stderr.contains(part),
            "missing `{part}`: {}",
            ran.stderr
        );
    }
    assert!(
        kube.list("Job", "databases", "cnpgops.io/step=preflight")
            .is_empty(),
        "the probe Job is deleted"
    );
    unchanged("refused for space");

    // pg_trgm created by the superuser on both sides (as CNPG's postInitApplicationSQL would):
    // pg_dump dumps its COMMENT, which the owner may not set on dev's. (prod.sql's pgcrypto and
    // citext are the owner's own.)
    for cluster in ["shop-cnpg", "shop-dev-cnpg"] {
        let su = superuser(&kube, cluster, "shop");
        kube.block_on(su.batch_execute("CREATE EXTENSION pg_trgm"))
            .unwrap();
    }
    // Both single-transaction modes: the default stream (the pre-data SQL filtered) and atomic
    // (the list filtered; its dump goes to a volume of its own, checked below).
    for mode in ["stream", "atomic"] {
        let ran = kube.run(&w, &["refresh-dev", "shop", "--yes", "--mode", mode]);
        ran.code(0);
        assert!(
            ran.stderr
                .contains("their COMMENT left out of the restore): pg_trgm"),
            "{}",
            ran.stderr
        );
        let prod = fp::of(&kube, "shop-cnpg", "shop", PROD_PASSWORD);
        let dev = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
        assert!(
            prod.0.contains_key("comment on extension pg_trgm"),
            "{:?}",
            prod.0
                .keys()
                .filter(|k| k.contains("pg_trgm"))
                .collect::<Vec<_>>()
        );
        fp::assert_same(("prod", &prod), ("dev", &dev), "dev == prod");
    }

    // The dump's volume: a claim the real ephemeral-volume controller made for the Pod, bound
    // to a volume the node's provisioner made, sized from the source.
    let pods = kube.list("Pod", "databases", "cnpgops.io/step=dump_restore");
    let dumped: Vec<&serde_json::Value> = pods
        .iter()
        .filter(|p| p.to_string().contains("\"mountPath\":\"/dump\""))
        .collect();
    assert_eq!(
        dumped.len(),
        1,
        "only the atomic run dumps to a volume: {pods:#?}"
    );
    let pod = dumped[0];
    let name = pod["metadata"]["name"].as_str().unwrap();
    let volume = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "dump")
        .unwrap();
    assert_eq!(
        volume["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"],
        "1Gi"
    );
    let claim = kube
        .get(
            "PersistentVolumeClaim",
            "databases",
            &format!("{name}-dump"),
        )
        .expect("the ephemeral-volume controller created the claim");
    assert_eq!(claim["metadata"]["ownerReferences"][0]["kind"], "Pod");
    assert_eq!(claim["metadata"]["ownerReferences"][0]["name"], name);
    let t0 = Instant::now();
    let mut claim = claim;
    while claim["status"]["phase"] != "Bound" {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never bound: {claim:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
        claim = kube
            .get(
                "PersistentVolumeClaim",
                "databases",
                &format!("{name}-dump"),
            )
            .unwrap();
    }
    let volumes: kube::Api<PersistentVolume> = kube::Api::all(kube.client.clone());
    let pv = kube
        .block_on(volumes.get(claim["spec"]["volumeName"].as_str().unwrap()))
        .unwrap();
    let labels = pv.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("sandbox.cnpgops.io/provisioned")
            .map(String::as_str),
        Some("true")
    );
}
