//! The fault matrix (issue 8): refresh-dev and migration resync against the synestra scenario
//! with API faults (500/503/409 on writes, dropped watches, 410 Gone), S3 faults (503 SlowDown
//! through the sandbox's S3 proxy, a wrong key), PostgreSQL refusing connections, and the
//! CronJob's run SIGKILLed at every step boundary. Each case asserts what an SRE needs: the
//! outcome (retried and succeeded, or failed naming the step and `cnpgops resume`), prod
//! unchanged, dev refreshed or as it was, destructive steps once, the app back, the lock free.
//! The killed-pod-mid-restore case is `refresh_dev::a_killed_restore_leaves_dev_as_it_was_and_resume_finishes_it`.

mod cronjob;
mod kill_anywhere;
mod migrations;
mod refresh;
mod restore;
mod restore_anywhere;
mod restore_kill;
mod s3;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::fingerprint::{self as fp, assert_same, Fingerprint};
use cnpgops_sandbox::faults::Fault;
use serde_json::Value;

use crate::harness::{Ran, World};
use crate::refresh_world as rw;
use crate::sandbox::{replicas, Kube};

pub(crate) const OWNER: &str = "synestra_io";
/// The scenario's test password (sandbox data, not a secret of anything real).
pub(crate) const PASSWORD: &str = "sandbox-initdb-Pa55";
pub(crate) const PROD: &str = "synestra-io-cnpg";
pub(crate) const DEV: &str = "synestra-io-dev-cnpg";
pub(crate) const APP_NS: &str = "web-synestra-io-dev";

/// A cluster's fingerprint (the tests' own oracle): every definition, row counts and hashes.
pub(crate) fn fingerprint(kube: &Kube, cluster: &str) -> Fingerprint {
    fp::of(kube, cluster, OWNER, PASSWORD)
}

/// Runs `sql` on dev as its owner (e.g. a stale table the next refresh must remove).
pub(crate) fn dev_sql(kube: &Kube, sql: &str) {
    let addr = rw::address(kube, DEV);
    kube.block_on(async {
        let c = rw::connect(&addr, OWNER, PASSWORD).await;
        c.batch_execute(sql).await.unwrap();
    });
}

/// Plans an API fault: the next `count` requests `verb path` get `status`.
pub(crate) fn api_fault(kube: &Kube, verb: &str, path: &str, status: u16, count: u32) {
    kube.sandbox().faults.add(Fault {
        verb: verb.into(),
        path: path.into(),
        status,
        count,
        message: None,
    });
}

/// The API faults served so far.
pub(crate) fn served(kube: &Kube) -> u64 {
    kube.sandbox().faults.served()
}

/// Compacts etcd's history every 300ms until dropped (resourceVersions older than the last
/// compaction get 410 Gone from etcd; the apiserver's watch cache still serves its own window).
pub(crate) struct WatchChaos {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u32>>,
}

impl WatchChaos {
    pub(crate) fn start(kube: &Kube) -> Self {
        let ip = kube.sandbox().ip().expect("running");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut rounds = 0;
            while !flag.load(Ordering::SeqCst) {
                rt.block_on(cnpgops_sandbox::control_plane::compact_etcd(ip))
                    .expect("etcd compacts");
                rounds += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
            rounds
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; how many times the watches were dropped.
    pub(crate) fn rounds(mut self) -> u32 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for WatchChaos {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The lock is free: no Lease, or one without a holder.
pub(crate) fn lock_released(kube: &Kube) -> bool {
    rw::lock_released(kube, DEV)
}

/// A step of a run state.
pub(crate) fn step<'a>(state: &'a Value, id: &str) -> &'a Value {
    let steps = state["steps"].as_array().expect("steps");
    steps
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {state:#}"))
}

/// The step a failed run stopped at.
pub(crate) fn failed_step(state: &Value) -> String {
    let steps = state["steps"].as_array().expect("steps");
    let failed = steps.iter().find(|s| s["status"] == "failed");
    let failed = failed.unwrap_or_else(|| panic!("no failed step in {state:#}"));
    failed["id"].as_str().unwrap().to_string()
}

/// A failure an SRE can act on: exit 4, the step named, the resume command given.
#[track_caller]
pub(crate) fn failed_naming_step(ran: &Ran, step: &str, run_id: &str) {
    ran.code(4);
    let text = format!("{}{}", ran.stdout, ran.stderr);
    assert!(text.contains(&format!("step `{step}` failed")), "{text}");
    assert!(
        text.contains(&format!("cnpgops resume {run_id}")),
        "the resume command: {text}"
    );
}

/// After a finished refresh run `run_id`: prod as before, dev equal to prod, the restore Job
/// created once and one `Refreshed` Event for this run, the app back, the lock free.
#[track_caller]
pub(crate) fn refreshed_once(kube: &Kube, run_id: &str, prod_before: &Fingerprint) {
    let prod = fingerprint(kube, PROD);
    assert_same(
        ("prod before", prod_before),
        ("prod", &prod),
        "prod unchanged",
    );
    let dev = fingerprint(kube, DEV);
    assert_same(("prod", &prod), ("dev", &dev), "dev refreshed");
    let jobs = kube.list(
        "Job",
        "databases",
        &format!("cnpgops.io/run-id={run_id},cnpgops.io/step=dump_restore"),
    );
    assert_eq!(jobs.len(), 1, "one restore Job for run {run_id}");
    let events = kube.list("Event", "databases", "");
    let refreshed = events
        .iter()
        .filter(|e| e["reason"] == "Refreshed")
        .filter(|e| e["message"].as_str().is_some_and(|m| m.contains(run_id)))
        .count();
    assert_eq!(refreshed, 1, "one Refreshed Event for run {run_id}");
    assert_eq!(replicas(kube, APP_NS, "web"), 2, "the app is back");
    assert!(lock_released(kube), "the lock is released");
}

/// A fresh local-state world and its run's id after running `args`.
pub(crate) fn run_local(kube: &Kube, args: &[&str]) -> (World, Ran) {
    let w = World::new();
    let ran = kube.run(&w, args);
    (w, ran)
}

/// Starts `cmd` parked after step `stop` (`CNPGOPS_PAUSE_AFTER_STEP`), waits until `running`
/// finds the run's state with `stop` succeeded, then SIGKILLs it; that state.
pub(crate) fn kill_after(
    mut cmd: std::process::Command,
    stop: &str,
    patience: Duration,
    mut running: impl FnMut() -> Option<Value>,
) -> Value {
    let mut child = cmd
        .env(cnpgops::support::CRASH_POINT_ENV, stop)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + patience;
    let state = loop {
        let found = running().filter(|s| step(s, stop)["status"] == "succeeded");
        let exited = child.try_wait().unwrap().is_some();
        if found.is_some() || exited || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    state.unwrap_or_else(|| panic!("step {stop} never finished (or cnpgops exited early)"))
}

/// `cnpgops resume ID --yes EXTRA...` right after a kill: it waits for the killed process's
/// Lease to expire by itself.
pub(crate) fn resume(kube: &Kube, w: &World, id: &str, extra: &[&str]) -> Ran {
    kube.run(w, &[&["resume", id, "--yes"][..], extra].concat())
}
