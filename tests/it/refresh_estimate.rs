//! The estimate `refresh-dev --dry-run` prints for both methods, against an oracle that is not
//! the product's code: earlier runs of the app seeded as run states with sizes and durations
//! chosen here, the line through them computed here by hand, and the source's size read here
//! with SQL.

use serde_json::{json, Value};

use crate::harness::World;
use crate::refresh_world::{self as rw, PROD_PASSWORD};
use crate::sandbox::Kube;

const MIB: f64 = 1_048_576.0;

/// A succeeded real run of `runbook` for app `shop` into `dev` whose `estimate` step recorded
/// `bytes` and whose steps took `secs` in all (1 s estimating, the rest in one more step).
fn seed(w: &World, n: u32, runbook: &str, bytes: u64, secs: i64) {
    let at = |s: i64| format!("2026-12-0{n}T10:00:{s:02}Z");
    let step = |id: &str, from: i64, to: i64, outputs: Value| {
        json!({"id": id, "uses": "log", "destructive": false, "status": "succeeded",
               "attempts": 1, "started_at": at(from), "finished_at": at(to),
               "outputs": outputs, "error": null})
    };
    let run_id = format!("2026120{n}-100000-see{n}");
    let state = json!({
        "version": 1, "run_id": run_id,
        "runbook": {"name": runbook, "origin": format!("builtin:{runbook}.yaml"), "digest": "sha256:0"},
        "mode": "real", "params": {"app": "shop", "from": "prod", "to": "dev"},
        "status": "succeeded", "message": null,
        "created_at": at(0), "updated_at": at(secs + 5),
        "steps": [step("estimate", 0, 1, json!({"bytes": bytes})),
                  step("work", 5, 5 + secs - 1, json!({}))]
    });
    // The product must read what it wrote: the seeded state is its own type's JSON.
    let parsed: cnpgops::support::RunState = serde_json::from_value(state.clone()).unwrap();
    assert_eq!(parsed.run_id, run_id);
    let path = w.state.path().join(format!("{run_id}.json"));
    std::fs::write(path, serde_json::to_vec(&state).unwrap()).unwrap();
}

/// The seconds after `label` in the estimate line (`... by dump 12.3s (...`).
fn seconds_after(line: &str, label: &str) -> f64 {
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {line}"))
        + label.len()..];
    rest[..rest.find('s').unwrap()].parse().unwrap()
}

#[test]
fn dry_run_estimates_both_methods_from_earlier_runs_of_the_app() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    // Dump: 10 s at 100 MiB, 16 s at 300 MiB. Recovery: 40 s and 44 s at the same sizes.
    let (small, large) = (100 * (1 << 20), 300 * (1 << 20));
    seed(&w, 1, "refresh-dev", small, 10);
    seed(&w, 2, "refresh-dev", large, 16);
    seed(&w, 3, "refresh-dev-recovery", small, 40);
    seed(&w, 4, "refresh-dev-recovery", large, 44);
    let ran = kube.run(&w, &["refresh-dev", "shop", "--dry-run"]);
    ran.code(0);

    let prod = rw::address(&kube, "shop-cnpg");
    let size: i64 = kube.block_on(async {
        let c = rw::connect(&prod, "shop", PROD_PASSWORD).await;
        let row = c
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .unwrap();
        row.get(0)
    });
    let line = ran
        .stderr
        .lines()
        .find(|l| l.contains("estimate for "))
        .unwrap_or_else(|| panic!("no estimate in:\n{}", ran.stderr));
    assert!(
        line.contains(&format!("estimate for {size} bytes")),
        "{line}"
    );
    // The line through two points, by hand: y = y1 + (y2 - y1) * (x - x1) / (x2 - x1).
    let through = |y1: f64, y2: f64| {
        let x = size as f64 / MIB;
        y1 + (y2 - y1) * (x - 100.0) / (300.0 - 100.0)
    };
    let (dump, recovery) = (through(10.0, 16.0), through(40.0, 44.0));
    let (got_dump, got_recovery) = (
        seconds_after(line, "by dump "),
        seconds_after(line, "by recovery "),
    );
    assert!(
        (got_dump - dump).abs() <= 0.05,
        "dump {dump:.2}s expected: {line}"
    );
    assert!(
        (got_recovery - recovery).abs() <= 0.05,
        "recovery {recovery:.2}s expected: {line}"
    );
    assert!(line.contains("fit of 2 earlier runs"), "{line}");
    assert!(line.contains("dump expected faster"), "{line}");
    // The dry run's own estimate step recorded the size it measured (for later estimates,
    // which count real runs only).
    let recorded = w.checkpoints().iter().any(|text| {
        let v: Value = serde_json::from_str(text).unwrap();
        let steps = v["steps"].as_array().cloned().unwrap_or_default();
        !v["run_id"].as_str().unwrap_or("").contains("-see")
            && steps
                .iter()
                .any(|s| s["id"] == "estimate" && s["outputs"]["bytes"] == json!(size))
    });
    assert!(recorded, "{:?}", w.checkpoints());
}
