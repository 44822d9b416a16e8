//! The fit, the samples taken from run states, and the line a person reads.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::engine::checkpoint::{RunbookRef, StepState, StepStatus};

const GB: u64 = 1 << 30;

#[test]
fn two_sizes_make_the_line_through_them_and_more_are_least_squares() {
    let f = fit(&[(GB, 20.0), (3 * GB, 50.0)]).unwrap();
    assert!(
        (f.a - 5.0).abs() < 1e-9 && (f.b - 15.0).abs() < 1e-9,
        "{f:?}"
    );
    assert!((f.at(2 * GB) - 35.0).abs() < 1e-9);
    // y = 1 + 2x with the middle point 1 s high: b stays 2, a rises by 1/3.
    let f = fit(&[(0, 1.0), (GB, 4.0), (2 * GB, 5.0)]).unwrap();
    assert!(
        (f.b - 2.0).abs() < 1e-9 && (f.a - 4.0 / 3.0).abs() < 1e-9,
        "{f:?}"
    );
    assert_eq!(fit(&[(GB, 1.0)]), None, "one point");
    assert_eq!(fit(&[(GB, 1.0), (GB, 3.0)]), None, "one size");
}

/// A run state of `runbook` for `app` into `to` of `bytes`, two steps lasting `secs` in all.
fn run(runbook: &str, app: &str, to: &str, bytes: u64, secs: i64, status: RunStatus) -> RunState {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 5, 20, 0, 0).unwrap();
    let step = |id: &str, start: i64, end: i64, outputs| StepState {
        id: id.into(),
        uses: "log".into(),
        destructive: false,
        status: StepStatus::Succeeded,
        attempts: 1,
        started_at: Some(t0 + Duration::seconds(start)),
        finished_at: Some(t0 + Duration::seconds(end)),
        outputs,
        has_secrets: false,
        notes: Default::default(),
        error: None,
    };
    let bytes_out = [("bytes".to_string(), json!(bytes))].into_iter().collect();
    RunState {
        version: 1,
        run_id: format!("{runbook}-{bytes}"),
        runbook: RunbookRef {
            name: runbook.into(),
            origin: "builtin".into(),
            digest: "sha256:0".into(),
        },
        mode: RunMode::Real,
        params: [("app", app), ("to", to)]
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
        status,
        message: None,
        created_at: t0,
        updated_at: t0,
        steps: vec![
            step(STEP, 0, 1, bytes_out),
            step("work", 5, 5 + secs - 1, Default::default()),
        ],
    }
}

#[test]
fn samples_are_real_successful_refreshes_of_the_same_app_and_env() {
    let ok = RunStatus::Succeeded;
    let mut dry = run(DUMP_RUNBOOK, "shop", "dev", GB, 9, ok);
    dry.mode = RunMode::DryRun;
    let runs = vec![
        run(DUMP_RUNBOOK, "shop", "dev", GB, 10, ok),
        run(RECOVERY_RUNBOOK, "shop", "dev", 2 * GB, 30, ok),
        run(DUMP_RUNBOOK, "shop", "dev", GB, 99, RunStatus::Failed),
        run(DUMP_RUNBOOK, "other", "dev", GB, 99, ok),
        run(DUMP_RUNBOOK, "shop", "qa", GB, 99, ok),
        run("restore", "shop", "dev", GB, 99, ok),
        dry,
    ];
    let s = samples(&runs, "shop", "dev");
    assert_eq!(
        s,
        vec![
            Sample {
                method: Method::Dump,
                bytes: GB,
                secs: 10.0
            },
            Sample {
                method: Method::Recovery,
                bytes: 2 * GB,
                secs: 30.0
            },
        ]
    );
}

#[test]
fn each_method_uses_its_runs_when_they_span_two_sizes_else_the_built_in_fit() {
    let sample = |method, gb: u64, secs| Sample {
        method,
        bytes: gb * GB,
        secs,
    };
    let s = [
        sample(Method::Dump, 1, 20.0),
        sample(Method::Dump, 3, 50.0),
        sample(Method::Recovery, 2, 40.0),
    ];
    let e = estimate(4 * GB, &s);
    assert!((e.dump.seconds - 65.0).abs() < 1e-9);
    assert_eq!(e.dump.runs, 2);
    assert_eq!(e.recovery.fit, DEFAULT_RECOVERY, "one recovery size only");
    assert_eq!(e.recovery.runs, 0);
    assert!((e.recovery.seconds - DEFAULT_RECOVERY.at(4 * GB)).abs() < 1e-9);
    let line = e.line();
    assert!(line.starts_with("estimate for 4294967296 bytes (4.00 GiB): by dump 65.0s (fit of 2 earlier runs: 5.00s + 15.00s/GiB), by recovery "), "{line}");
    assert!(line.contains("built-in fit"), "{line}");
}

#[test]
fn the_faster_method_and_where_the_lines_cross() {
    let at = |dump: Fit, recovery: Fit, gb: u64| Estimate {
        bytes: gb * GB,
        dump: MethodEstimate {
            seconds: dump.at(gb * GB),
            fit: dump,
            runs: 2,
        },
        recovery: MethodEstimate {
            seconds: recovery.at(gb * GB),
            fit: recovery,
            runs: 2,
        },
    };
    let dump = Fit { a: 2.0, b: 20.0 };
    let recovery = Fit { a: 30.0, b: 6.0 };
    assert_eq!(at(dump, recovery, 1).faster(), Method::Dump);
    assert_eq!(at(dump, recovery, 3).faster(), Method::Recovery);
    assert_eq!(
        at(dump, recovery, 1).crossover(),
        Some(2 * GB),
        "2 + 20x = 30 + 6x at x = 2"
    );
    assert!(at(dump, recovery, 3)
        .line()
        .contains("recovery expected faster; the lines cross at 2.00 GiB"));
    assert_eq!(at(dump, dump, 1).crossover(), None, "parallel lines");
}
