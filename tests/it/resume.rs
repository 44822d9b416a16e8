//! Interrupting a run (SIGINT, SIGKILL) and resuming it; destructive steps run exactly once.

use std::time::{Duration, Instant};

use crate::harness::World;

/// Starts selftest with a long wait and returns the child once the wait step is running.
fn start_waiting(w: &World, marker: &std::path::Path, pause: &str) -> std::process::Child {
    let mut child = w
        .cmd(&[
            "run",
            "selftest",
            "-p",
            "target=app-dev",
            "-p",
            &format!("marker={}", marker.display()),
            "-p",
            &format!("pause={pause}"),
            "--yes",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let running = w.checkpoints().first().is_some_and(|t| {
            let v: serde_json::Value = serde_json::from_str(t).unwrap_or_default();
            v["steps"][3]["status"] == "running"
        });
        if running {
            return child;
        }
        assert!(Instant::now() < deadline, "the wait step never started");
        assert!(child.try_wait().unwrap().is_none(), "cnpgops exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigint_checkpoints_exits_5_and_resume_finishes_without_repeating_the_write() {
    let w = World::new();
    let marker = w.path("marker.log");
    let child = start_waiting(&w, &marker, "2s");
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("to continue: cnpgops resume"));
    let state = w.only_run();
    assert_eq!(state["status"], "interrupted");
    assert_eq!(state["steps"][2]["status"], "succeeded");
    let id = state["run_id"].as_str().unwrap().to_string();

    let ran = w.run(&["resume", &id]);
    ran.code(0);
    assert!(ran.stderr.contains("resuming run"), "{}", ran.stderr);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "the destructive step ran twice"
    );
    assert_eq!(w.only_run()["steps"][4]["status"], "succeeded");
}

#[test]
fn sigkill_mid_step_resumes_and_the_wait_adopts_its_deadline() {
    let w = World::new();
    let marker = w.path("marker.log");
    let mut child = start_waiting(&w, &marker, "1s");
    child.kill().unwrap();
    child.wait().unwrap();
    let state = w.only_run();
    assert_eq!(
        state["status"], "running",
        "a killed run cannot record anything"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let t0 = Instant::now();
    let id = state["run_id"].as_str().unwrap();
    w.run(&["resume", id]).code(0);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 1);
}

#[test]
fn a_destructive_step_caught_mid_flight_needs_a_manual_check() {
    let w = World::new();
    let marker = w.path("marker.log");
    let args = [
        "run",
        "selftest",
        "-p",
        "target=app-dev",
        "-p",
        &format!("marker={}", marker.display()),
        "--yes",
    ];
    w.run(&args).code(0);
    // Rewrite the checkpoint as if the process died while `write` was running.
    let mut state = w.only_run();
    state["status"] = "running".into();
    state["steps"][2]["status"] = "running".into();
    for i in 3..5 {
        state["steps"][i]["status"] = "pending".into();
    }
    let id = state["run_id"].as_str().unwrap().to_string();
    std::fs::write(
        w.state.path().join(format!("{id}.json")),
        serde_json::to_string(&state).unwrap(),
    )
    .unwrap();

    let ran = w.run(&["resume", &id, "--yes"]);
    ran.code(3);
    assert!(
        ran.stderr.contains("may already have taken effect"),
        "{}",
        ran.stderr
    );
    assert_eq!(w.only_run()["status"], "needs_manual_check");
    let ran = w.run(&["resume", &id, "--yes", "--mark-done", "write"]);
    ran.code(0);
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 1);
}

#[test]
fn resume_refuses_when_the_runbook_changed() {
    let w = World::new();
    let file = w.path("rb.yaml");
    std::fs::write(
        &file,
        "name: rb\nsummary: s\nsteps:\n  - id: a\n    uses: assert\n    with: {that: false}\n",
    )
    .unwrap();
    w.run(&["run", file.to_str().unwrap()]).code(4);
    let id = w.only_run()["run_id"].as_str().unwrap().to_string();
    std::fs::write(
        &file,
        "name: rb\nsummary: s\nsteps:\n  - id: a\n    uses: assert\n    with: {that: true}\n",
    )
    .unwrap();
    let ran = w.run(&["resume", &id]);
    ran.code(3);
    assert!(
        ran.stderr.contains("changed since the run started"),
        "{}",
        ran.stderr
    );
    w.run(&["resume", "20000101-000000-beef"]).code(2);
}
