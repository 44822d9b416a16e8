//! The run lock: a Lease per target; a second run is refused with exit 3 naming the holder;
//! the lease is released however the run ends and taken over only once expired.

use std::time::{Duration, Instant};

use crate::harness::World;
use crate::sandbox::{fixture, Kube};

const LEASE: &str = "cnpgops-lock-databases-app-dev-cnpg";

fn lease(kube: &Kube) -> Option<serde_json::Value> {
    kube.get("Lease", "databases", LEASE)
}

#[test]
fn a_second_run_on_the_same_target_is_refused_and_names_the_holder() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("databases");
    let file = fixture("locked.yaml");
    let mut first = kube
        .cmd(&w, &["run", &file, "-p", "pause=30s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder = loop {
        if let Some(l) = lease(&kube) {
            break l["spec"]["holderIdentity"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let t0 = Instant::now();
    let second = kube.run(&w, &["run", &file]);
    second.code(3);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "not fast: {:?}",
        t0.elapsed()
    );
    for expected in [
        holder.as_str(),
        "target databases/app-dev-cnpg is locked by",
        "since",
        "kubectl -n databases delete lease cnpgops-lock-databases-app-dev-cnpg",
    ] {
        assert!(
            second.stderr.contains(expected),
            "missing `{expected}`:\n{}",
            second.stderr
        );
    }
    assert!(
        !second.stderr.contains("cleanup ran"),
        "a step of the refused run ran"
    );
    let mut settings = w.settings();
    settings.add_filter(r"\[RUN_ID\]@[^`\s]+`", "[RUN_ID]@[HOST]`");
    settings.bind(|| insta::assert_snapshot!("lock_refused_stdout", second.stdout));

    // SIGINT: the first run stops, releases the lock, and the target is free again.
    let ok = std::process::Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert_eq!(first.wait().unwrap().code(), Some(5));
    assert!(
        lease(&kube).is_none(),
        "an interrupted run released its lock"
    );
    kube.run(&w, &["run", &file]).code(0);
}

#[test]
fn the_lock_is_released_after_a_failure() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("databases");
    let ran = kube.run(&w, &["run", &fixture("locked.yaml"), "-p", "fail=true"]);
    ran.code(4);
    assert!(
        ran.stderr.contains(
            "locked databases/app-dev-cnpg (Lease databases/cnpgops-lock-databases-app-dev-cnpg)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("released Lease databases/"),
        "{}",
        ran.stderr
    );
    assert!(lease(&kube).is_none());
}

#[test]
fn only_an_expired_lease_is_taken_over() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("databases");
    let hold = |renewed: &str| {
        format!("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {LEASE}, namespace: databases}}\nspec: {{holderIdentity: other-run@elsewhere, leaseDurationSeconds: 30, acquireTime: '{renewed}', renewTime: '{renewed}'}}\n")
    };
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    kube.create(&hold(&now));
    let refused = kube.run(&w, &["run", &fixture("locked.yaml")]);
    refused.code(3);
    assert!(
        refused.stderr.contains("`other-run@elsewhere`"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        lease(&kube).unwrap()["spec"]["holderIdentity"],
        "other-run@elsewhere"
    );

    kube.block_on(
        kube.api("Lease", "databases")
            .delete(LEASE, &Default::default()),
    )
    .unwrap();
    kube.create(&hold("2026-01-01T00:00:00.000000Z"));
    kube.run(&w, &["run", &fixture("locked.yaml")]).code(0);
    assert!(lease(&kube).is_none(), "taken over, then released");
}

#[test]
fn a_run_that_loses_its_lock_stops_as_interrupted() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("databases");
    let file = fixture("locked.yaml");
    let child = kube
        .cmd(&w, &["run", &file, "-p", "pause=60s", "--lock-ttl", "3s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while lease(&kube).is_none() {
        assert!(Instant::now() < deadline, "the run never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Someone breaks the lock, as the refusal message says to.
    kube.block_on(
        kube.api("Lease", "databases")
            .delete(LEASE, &Default::default()),
    )
    .unwrap();
    let t0 = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(w.only_run()["status"], "interrupted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lost the run lock"), "{stderr}");
}

#[test]
fn a_resume_right_after_a_kill_waits_for_its_own_lease_to_expire() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("databases");
    let mut child = kube
        .cmd(&w, &["run", &fixture("locked.yaml"), "--lock-ttl", "4s"])
        .env("CNPGOPS_PAUSE_AFTER_STEP", "hold")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let state: serde_json::Value = w
            .checkpoints()
            .first()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        if state["steps"][0]["status"] == "succeeded" || Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap(); // SIGKILL: the lease stays behind, held
    child.wait().unwrap();
    assert_eq!(
        state["steps"][0]["status"], "succeeded",
        "never finished `hold`"
    );
    let holder = lease(&kube).expect("the killed run's lease")["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    let id = state["run_id"].as_str().unwrap();
    assert!(holder.starts_with(&format!("{id}@")), "{holder}");

    // A different run is still refused while the lease lives...
    kube.run(&w, &["run", &fixture("locked.yaml"), "-p", "pause=0s"])
        .code(3);
    // ...but the run's own resume waits for it to expire, then finishes.
    let resumed = kube.run(&w, &["resume", id, "--lock-ttl", "4s"]);
    resumed.code(0);
    assert!(
        resumed.stderr.contains("earlier process of this run"),
        "{}",
        resumed.stderr
    );
    assert!(lease(&kube).is_none(), "released at the end");
    let states: Vec<serde_json::Value> = w
        .checkpoints()
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    let resumed = states.iter().find(|s| s["run_id"] == id).expect("the run");
    assert_eq!(resumed["status"], "succeeded");
}
