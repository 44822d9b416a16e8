//! The CronJob's exact run (`deploy/base`: `refresh-dev synestra-io --yes --state kubernetes
//! --state-namespace cnpgops -o json`) SIGKILLed at every step boundary of refresh-dev, each
//! followed by `resume`: the refresh finishes once, prod untouched, the app back, the lock free.
//! `--lock-ttl 3s` only shortens how long a killed run's Lease outlives it (default 30s), which
//! each `resume` waits out by itself.

use std::time::Duration;

use super::*;

const STEPS: &[&str] = &[
    "source",
    "target",
    "preflight",
    "pause_sync",
    "stop_app",
    "terminate",
    "dump_restore",
    "verify",
    "annotate",
    "event",
    "start_app",
    "resume_sync",
];

const STATE: &[&str] = &["--state", "kubernetes", "--state-namespace", "cnpgops"];

/// The run states in the `cnpgops` namespace.
fn states(kube: &Kube) -> Vec<Value> {
    let cms = kube.list(
        "ConfigMap",
        "cnpgops",
        "app.kubernetes.io/managed-by=cnpgops",
    );
    // Run states only: a run's artifacts (its inventories) are ConfigMaps of their own.
    cms.iter()
        .filter_map(|c| c["data"]["state.json"].as_str())
        .map(|s| serde_json::from_str(s).unwrap())
        .collect()
}

/// Starts the CronJob's command parked after `stop`, waits for that checkpoint and SIGKILLs it.
fn kill_cronjob_after(kube: &Kube, w: &World, stop: &str, before: usize) -> Value {
    let mut args = vec!["refresh-dev", "synestra-io", "--yes"];
    args.extend(STATE);
    args.extend(["-o", "json", "--lock-ttl", "3s"]);
    kill_after(kube.cmd(w, &args), stop, Duration::from_secs(60), || {
        let all = states(kube);
        (all.len() > before)
            .then(|| all.into_iter().find(|s| s["status"] == "running"))
            .flatten()
    })
}

#[test]
fn the_cronjob_run_killed_at_every_step_boundary_resumes_and_refreshes_once() {
    let kube = Kube::start();
    kube.scenario("synestra.yaml");
    kube.namespace("cnpgops");
    let prod0 = fingerprint(&kube, PROD);
    let w = World::new();
    for (k, stop) in STEPS.iter().enumerate() {
        dev_sql(&kube, &format!("CREATE TABLE stale_{k} (id int)"));
        let state = kill_cronjob_after(&kube, &w, stop, k);
        let id = state["run_id"].as_str().unwrap().to_string();
        if let Some(next) = STEPS.get(k + 1) {
            assert_eq!(
                step(&state, next)["status"],
                "pending",
                "killed after {stop}"
            );
        }
        let mut extra = STATE.to_vec();
        extra.extend(["-o", "json"]);
        let ran = resume(&kube, &w, &id, &extra);
        ran.code(0);
        let done = states(&kube)
            .into_iter()
            .find(|s| s["run_id"] == id.as_str());
        let done = done.expect("the run's state");
        assert_eq!(done["status"], "succeeded", "killed after {stop}");
        for destructive in ["terminate", "dump_restore"] {
            assert_eq!(
                step(&done, destructive)["attempts"],
                1,
                "{destructive} once, killed after {stop}"
            );
        }
        refreshed_once(&kube, &id, &prod0);
    }
}
