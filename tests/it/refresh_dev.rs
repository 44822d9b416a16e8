//! `cnpgops refresh-dev` against the sandbox with real PostgreSQL: dev ends equal to prod row
//! for row, prod is untouched, the app comes back, nothing leaks; a killed Job leaves dev as it
//! was and `resume` finishes the refresh; refusals and bad input change nothing.

use std::io::{BufRead, BufReader};
use std::time::Instant;

use crate::fingerprint::{self as fp, assert_same, Fingerprint};
use crate::harness::World;
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::sandbox::{replicas, Kube};

/// Orders in the big table: the issue's ~1M rows (the kill test needs a copy that lasts).
const BIG_ROWS: u32 = 1_000_000;

/// The oracle's fingerprint of prod (`shop-cnpg`) or dev (`shop-dev-cnpg`).
fn fingerprint(kube: &Kube, cluster: &str) -> Fingerprint {
    let password = if cluster == "shop-cnpg" {
        PROD_PASSWORD
    } else {
        DEV_PASSWORD
    };
    fp::of(kube, cluster, "shop", password)
}

/// Waits until the restore's session on dev is copying rows into a table inside its transaction
/// (it has written: the clean has run; `pg_stat_progress_copy` counts tuples), as dev's own
/// views show it; that session's description.
fn restore_copying(kube: &Kube) -> String {
    let addr = rw::address(kube, "shop-dev-cnpg");
    let sql = "SELECT format('pid %s, xact_start %s, xid %s, COPY FROM into %s: %s tuples', \
                a.pid, a.xact_start, a.backend_xid, p.relid::regclass, p.tuples_processed) \
         FROM pg_stat_activity a JOIN pg_stat_progress_copy p USING (pid) \
         WHERE a.application_name LIKE 'cnpgops-restore-%' AND a.backend_xid IS NOT NULL \
           AND p.command = 'COPY FROM' AND p.tuples_processed > 0";
    kube.block_on(async {
        let c = rw::connect(&addr, "shop", DEV_PASSWORD).await;
        let t0 = Instant::now();
        loop {
            if let Some(row) = c.query(sql, &[]).await.unwrap().first() {
                return row.get(0);
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(120),
                "the restore never copied rows on dev"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
}

fn leak_scan(w: &World, kube: &Kube, texts: &[&str]) {
    let mut all: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    all.extend(w.checkpoints());
    for kind in ["Job", "Pod"] {
        all.extend(
            kube.list(kind, "databases", "cnpgops.io/step")
                .iter()
                .map(|o| o.to_string()),
        );
    }
    all.push(serde_json::to_string(&kube.list("Event", "databases", "")).unwrap());
    for text in &all {
        for secret in [PROD_PASSWORD, DEV_PASSWORD] {
            assert!(!text.contains(secret), "a password leaked into: {text}");
        }
    }
}

#[test]
fn refresh_dev_makes_dev_equal_to_prod_and_leaves_prod_alone() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", BIG_ROWS);
    let prod_before = fingerprint(&kube, "shop-cnpg");
    let orders = &prod_before.0["rows of shop.orders"];
    assert!(orders.starts_with(&format!("{BIG_ROWS} rows,")), "{orders}");
    let t0 = Instant::now();
    let ran = kube.run(
        &w,
        &["refresh-dev", "shop", "--yes", "--verify", "checksums"],
    );
    let took = t0.elapsed();
    ran.code(0);
    eprintln!("refresh-dev of {BIG_ROWS} orders took {took:?}");
    let dev = fingerprint(&kube, "shop-dev-cnpg");
    let prod_after = fingerprint(&kube, "shop-cnpg");
    assert_same(
        ("prod before", &prod_before),
        ("prod", &prod_after),
        "prod unchanged",
    );
    assert_same(("prod", &prod_after), ("dev", &dev), "dev equals prod");
    assert!(
        !dev.0.contains_key("relation public.dev_only"),
        "the dev-only table is gone"
    );
    assert!(dev.0["sequence shop.invoice_no"].ends_with("| last 1234"));
    assert!(!dev.0["rows of shop.daily"].starts_with("0 rows"));
    assert!(dev.0.contains_key("relation shop.paid_orders"));
    for kind in ["index ", "constraint ", "trigger ", "column "] {
        assert!(dev.count(kind) > 0, "the oracle sees {kind}definitions");
    }
    let addr = rw::address(&kube, "shop-dev-cnpg");
    let owners: Vec<String> = kube.block_on(async {
        let c = rw::connect(&addr, "shop", DEV_PASSWORD).await;
        let rows = c.query("SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname IN ('shop','audit','public')", &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    });
    assert_eq!(
        owners,
        ["shop"],
        "restored as the dev owner, whose password still works"
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2, "the app is back");
    let cluster = kube.get("Cluster", "databases", "shop-dev-cnpg").unwrap();
    let ann = &cluster["metadata"]["annotations"];
    let run_id = w.only_run()["run_id"].as_str().unwrap().to_string();
    assert_eq!(ann["cnpgops.io/refreshed-from"], "databases/shop-cnpg");

    assert_eq!(ann["cnpgops.io/refreshed-run-id"], run_id.as_str());
    // Where the time went (the default stream mode): every restore phase, in order, as the
    // target executed its marker.
    let state = w.only_run();
    let step = state["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "dump_restore")
        .expect("the dump_restore step");
    let phases: Vec<&str> = step["outputs"]["phases"]
        .as_array()
        .unwrap_or_else(|| panic!("phases: {step:#}"))
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "job_start",
            "dump",
            "restore",
            "clean",
            "schema",
            "data",
            "indexes",
            "constraints",
            "analyze",
            "commit",
            "job_finish"
        ],
        "{step:#}"
    );
    assert!(ann["cnpgops.io/refreshed-at"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    let events = kube.list("Event", "databases", "");
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "Refreshed" && e["involvedObject"]["name"] == "shop-dev-cnpg"),
        "{events:#?}"
    );
    let job = &kube.list("Job", "databases", "cnpgops.io/step=dump_restore")[0];
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert!(ran.stderr.contains("identical"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("as dumped (the exported snapshot)"),
        "{}",
        ran.stderr
    );
    // Analyzed in the restore's transaction: statistics for every column of the big table,
    // its row estimate the oracle's count.
    let addr = rw::address(&kube, "shop-dev-cnpg");
    let (columns, estimate): (i64, f32) = kube.block_on(async {
        let c = rw::connect(&addr, "shop", DEV_PASSWORD).await;
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM pg_stats WHERE schemaname = 'shop' AND tablename = 'orders'), \
                 (SELECT reltuples FROM pg_class WHERE oid = 'shop.orders'::regclass)",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    });
    let orders = prod_after.rows("shop.orders").unwrap() as f32;
    assert_eq!(columns, 6, "every column of shop.orders has statistics");
    assert!(
        (estimate - orders).abs() < orders / 20.0,
        "{estimate} vs {orders}"
    );
    // `--verify checksums` reads every row; by default verify takes each table's rows from the
    // restore's own transaction (a wrong count there fails verify: refresh_verify) instead.
    let counted = "6 tables' rows as the restore's transaction counted them";
    assert!(!ran.stderr.contains(counted), "{}", ran.stderr);
    let mut outputs = vec![ran.stdout, ran.stderr];
    // Again, in the other modes (and trace-level logs for the leak scan): still equal.
    for mode in ["atomic", "parallel"] {
        let again = kube.run(
            &w,
            &["-vvv", "refresh-dev", "shop", "--yes", "--mode", mode],
        );
        again.code(0);
        // Parallel mode has no one transaction to count in: verify counts every table.
        assert_eq!(
            again.stderr.contains(counted),
            mode == "atomic",
            "{mode}: {}",
            again.stderr
        );
        let dev = fingerprint(&kube, "shop-dev-cnpg");
        assert_same(("prod", &prod_after), ("dev", &dev), mode);
        outputs.extend([again.stdout, again.stderr]);
    }
    let texts: Vec<&str> = outputs.iter().map(String::as_str).collect();
    leak_scan(&w, &kube, &texts);
}

#[test]
fn a_killed_restore_leaves_dev_as_it_was_and_resume_finishes_it() {
    let (w, kube) = (World::new(), Kube::start());
    // A million orders: the copy lasts long enough to be caught in the middle.
    rw::world(&kube, "shop", BIG_ROWS);
    let dev_before = fingerprint(&kube, "shop-dev-cnpg");
    let mut child = kube
        .cmd(&w, &["-o", "json", "refresh-dev", "shop", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut killed = None;
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if killed.is_none() && line.contains("restore started") {
            let session = restore_copying(&kube);
            eprintln!("killing the restore in the middle of its copy: {session}");
            let pods = kube.list("Pod", "databases", "cnpgops.io/step=dump_restore");
            let pod = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
            assert!(
                cnpgops_sandbox::node::pods::kill("databases", &pod),
                "killed {pod}"
            );
            killed = Some(pod);
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(killed.is_some(), "never saw the restore start: {seen:#?}");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("step `dump_restore` failed"), "{stderr}");
    assert!(stderr.contains("was left as it was"), "{stderr}");
    assert_eq!(
        replicas(&kube, "web-shop-dev", "web"),
        2,
        "scaled back after the failure"
    );
    assert!(rw::lock_released(&kube, "shop-dev-cnpg"), "lock released");
    let dev_after_kill = fingerprint(&kube, "shop-dev-cnpg");
    assert_same(
        ("dev before", &dev_before),
        ("dev", &dev_after_kill),
        "dev as it was",
    );

    let run_id = w.only_run()["run_id"].as_str().unwrap().to_string();
    let resumed = kube.run(&w, &["resume", &run_id, "--yes"]);
    resumed.code(0);
    let prod = fingerprint(&kube, "shop-cnpg");
    let dev = fingerprint(&kube, "shop-dev-cnpg");
    assert_same(
        ("prod", &prod),
        ("dev", &dev),
        "the resumed run finished the refresh",
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2);
    leak_scan(
        &w,
        &kube,
        &[&seen.join("\n"), &stderr, &resumed.stdout, &resumed.stderr],
    );
}
