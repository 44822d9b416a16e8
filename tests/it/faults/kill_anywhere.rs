//! refresh-dev SIGKILLed at random moments, uniform over a run's duration (so inside steps, not
//! only at the engine's pause points), each followed by `cnpgops resume`: every run ends in an
//! exact copy of prod (the tests' fingerprint; prod gets a new row before each run), with one
//! completed restore Job for the run, the app back at 2 replicas and no lease held.
//! `CNPGOPS_KILLS` sets how many kills (default 20), `CNPGOPS_KILL_SEED` replays a seed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;

const ARGS: &[&str] = &["--lock-ttl", "2s", "refresh-dev", "synestra-io", "--yes"];

/// xorshift64*: reproducible moments without a dependency.
pub(super) struct Moments(pub u64);

impl Moments {
    /// The moments of `CNPGOPS_KILL_SEED`, or of a new seed from the clock; printed either way
    /// so a failure can be replayed.
    pub(super) fn from_env() -> Self {
        let seed = match env_or("CNPGOPS_KILL_SEED", 0) {
            0 | 1 => {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            }
            seed => seed,
        };
        eprintln!("kill moments: seed {seed} (CNPGOPS_KILL_SEED={seed} replays them)");
        Moments(seed)
    }

    /// A fraction in [0, 1).
    pub(super) fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(super) fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs prod SQL as the owner (a row the next refresh must carry).
fn prod_sql(kube: &Kube, sql: &str) {
    let addr = rw::address(kube, PROD);
    kube.block_on(async {
        let c = rw::connect(&addr, OWNER, PASSWORD).await;
        c.batch_execute(sql).await.unwrap();
    });
}

/// Where the kill landed: the step running in the last checkpoint, `between steps`,
/// `finished`, or `before the first checkpoint`.
pub(super) fn landed(w: &World) -> String {
    let Some(state) = w.checkpoints().pop() else {
        return "before the first checkpoint".into();
    };
    let state: Value = serde_json::from_str(&state).unwrap();
    if state["status"] == "succeeded" {
        return "finished".into();
    }
    let steps = state["steps"].as_array().unwrap();
    steps
        .iter()
        .find(|s| s["status"] == "running")
        .map(|s| format!("in {}", s["id"].as_str().unwrap()))
        .unwrap_or_else(|| "between steps".into())
}

/// Waits until no live run holds the lock on `cluster` (a run killed before its first
/// checkpoint leaves a Lease nobody can resume; it expires after `--lock-ttl`).
pub(super) fn lease_free(kube: &Kube, cluster: &str) {
    let t0 = Instant::now();
    while !rw::lock_released(kube, cluster) {
        let lease = kube.get(
            "Lease",
            "databases",
            &format!("cnpgops-lock-databases-{cluster}"),
        );
        let expired = lease.as_ref().is_some_and(|l| {
            let renewed = l["spec"]["renewTime"].as_str().unwrap_or("");
            let secs = l["spec"]["leaseDurationSeconds"].as_i64().unwrap_or(0);
            chrono::DateTime::parse_from_rfc3339(renewed)
                .is_ok_and(|t| t + chrono::Duration::seconds(secs) < chrono::Utc::now())
        });
        if expired {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the lock stays held: {lease:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One completed restore Job for `run_id`, dev equal to prod, the app back, the lock free.
#[track_caller]
fn exact_copy_once(kube: &Kube, run_id: &str, kill: usize) {
    // cnpgops moves on when the Job's Pod has succeeded; the job controller records the Job's
    // own success about a second later: the Jobs as the controller has settled them.
    let selector = format!("cnpgops.io/run-id={run_id},cnpgops.io/step=dump_restore");
    let settled = |j: &Value| {
        j["status"]["succeeded"] == 1 || j["status"]["failed"].as_i64().unwrap_or(0) > 0
    };
    let t0 = std::time::Instant::now();
    let jobs = loop {
        let jobs = kube.list("Job", "databases", &selector);
        if jobs.iter().all(settled) || t0.elapsed() > Duration::from_secs(60) {
            break jobs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Exactly one restore Job completed. A kill before pg_dump imported the exported snapshot
    // fails that Job (the snapshot dies with the killed process's session) without touching
    // dev (the restore is one transaction), and the resumed run starts another.
    let completed: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["status"]["succeeded"] == 1)
        .collect();
    assert_eq!(
        completed.len(),
        1,
        "kill {kill}: one restore Job completed for run {run_id}: {jobs:#?}"
    );
    for j in &jobs {
        assert!(
            settled(j),
            "kill {kill}: no restore Job of the run is left running: {j:#}"
        );
    }
    let prod = fingerprint(kube, PROD);
    let dev = fingerprint(kube, DEV);
    let what = format!("kill {kill}: dev is an exact copy of prod");
    assert_same(("prod", &prod), ("dev", &dev), &what);
    assert_eq!(
        replicas(kube, APP_NS, "web"),
        2,
        "kill {kill}: the app is back"
    );
    assert!(lock_released(kube), "kill {kill}: the lock is free");
    let cluster = kube.get("Cluster", "databases", DEV).unwrap();
    let ann = &cluster["metadata"]["annotations"]["cnpgops.io/refreshed-run-id"];
    assert_eq!(ann, run_id, "kill {kill}: annotated by this run");
}

#[test]
fn refresh_dev_killed_at_random_moments_resumes_to_an_exact_copy_restoring_once() {
    let kube = Kube::start();
    kube.scenario("synestra.yaml");
    let kills = env_or("CNPGOPS_KILLS", 20) as usize;
    let mut moments = Moments::from_env();

    // A clean run: the duration the kills are spread over.
    let w = World::new();
    let t0 = Instant::now();
    kube.run(&w, ARGS).code(0);
    let span = t0.elapsed();
    let mut where_ = BTreeMap::<String, u32>::new();
    for kill in 0..kills {
        dev_sql(&kube, &format!("CREATE TABLE stale_{kill} (id int)"));
        prod_sql(
            &kube,
            &format!("CREATE TABLE IF NOT EXISTS kills (n int); INSERT INTO kills VALUES ({kill})"),
        );
        let w = World::new();
        let at = span.mul_f64(moments.next());
        let mut child = kube
            .cmd(&w, ARGS)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < at && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL (or nothing, if it had finished)
        child.wait().unwrap();
        let place = landed(&w);
        *where_.entry(place.clone()).or_default() += 1;
        let run_id = match w.checkpoints().pop() {
            None => {
                lease_free(&kube, DEV);
                let again = kube.run(&w, ARGS);
                again.code(0);
                w.only_run()["run_id"].as_str().unwrap().to_string()
            }
            Some(state) => {
                let state: Value = serde_json::from_str(&state).unwrap();
                let id = state["run_id"].as_str().unwrap().to_string();
                if state["status"] != "succeeded" {
                    let ran = resume(&kube, &w, &id, &[]);
                    assert_eq!(ran.code, 0, "kill {kill} ({place}, {at:?}): {}", ran.stderr);
                }
                id
            }
        };
        assert_eq!(w.only_run()["status"], "succeeded", "kill {kill}");
        exact_copy_once(&kube, &run_id, kill);
    }
    eprintln!("{kills} kills over a {span:?} run landed: {where_:?}");
    let inside = where_
        .iter()
        .filter(|(k, _)| k.starts_with("in "))
        .map(|(_, n)| n)
        .sum::<u32>();
    assert!(inside > 0, "no kill landed inside a step: {where_:?}");
}
