//! SIGKILL at every step boundary: `cnpgops resume` finishes and every write happens once.
//!
//! `CNPGOPS_PAUSE_AFTER_STEP=<id>` (see `engine::crash_point`) parks the run right after that
//! step's checkpoint; the test kills it there with SIGKILL, for each step in turn.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::World;

const RUNBOOK: &str = r#"name: boundaries
summary: a write before and after every kind of step
params:
  - {name: dir, type: string, required: true}
steps:
  - id: greet
    uses: log
    with: {message: start}
  - id: first_write
    uses: file.append
    destructive: true
    confirm: boundaries
    with: {path: "{{ params.dir }}/first.log", line: once}
  - id: creds
    uses: secret.env
    with: {name: BOUNDARY_SECRET}
  - id: check
    uses: assert
    with: {that: "{{ steps.creds.outputs.value | length > 3 }}"}
  - id: second_write
    uses: file.append
    destructive: true
    confirm: boundaries
    with: {path: "{{ params.dir }}/second.log", line: "after {{ steps.first_write.outputs.path }}"}
  - id: note
    uses: file.append
    with: {path: "{{ params.dir }}/note.log", line: noted}
  - id: cleanup
    uses: file.append
    always: true
    with: {path: "{{ params.dir }}/cleanup.log", line: cleaned}
"#;

const STEPS: &[&str] = &[
    "greet",
    "first_write",
    "creds",
    "check",
    "second_write",
    "note",
    "cleanup",
];

fn lines(dir: &Path, file: &str) -> usize {
    std::fs::read_to_string(dir.join(file))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Starts the run parked after `step`, waits for that checkpoint and SIGKILLs it.
fn kill_after(w: &World, runbook: &str, dir: &str, step: usize) -> serde_json::Value {
    let mut child = w
        .cmd(&["run", runbook, "-p", &format!("dir={dir}"), "--yes"])
        .env("CNPGOPS_PAUSE_AFTER_STEP", STEPS[step])
        .env("BOUNDARY_SECRET", "boundary-secret")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state: serde_json::Value = w
            .checkpoints()
            .first()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        if state["steps"][step]["status"] == "succeeded" {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return w.only_run();
        }
        assert!(
            Instant::now() < deadline,
            "step {} never finished",
            STEPS[step]
        );
        assert!(child.try_wait().unwrap().is_none(), "cnpgops exited early");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigkill_between_any_two_steps_resumes_and_writes_once() {
    for (k, name) in STEPS.iter().enumerate() {
        let w = World::new();
        let runbook = w.path("boundaries.yaml");
        std::fs::write(&runbook, RUNBOOK).unwrap();
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_str().unwrap();
        let state = kill_after(&w, runbook.to_str().unwrap(), dir, k);
        assert_eq!(state["status"], "running", "killed after {name}");
        if let Some(next) = STEPS.get(k + 1) {
            assert_eq!(state["steps"][k + 1]["status"], "pending", "{next}");
        }

        let id = state["run_id"].as_str().unwrap();
        let mut resume = w.cmd(&["resume", id, "--yes"]);
        resume.env("BOUNDARY_SECRET", "boundary-secret");
        w.run_with(resume).code(0);

        for file in ["first.log", "second.log", "note.log", "cleanup.log"] {
            assert_eq!(
                lines(out.path(), file),
                1,
                "{file} after a kill after {name}"
            );
        }
        let done = w.only_run();
        assert_eq!(done["status"], "succeeded");
        for (i, step) in STEPS.iter().enumerate() {
            // Only the secret read runs again (secrets are never stored), and only if it had run.
            let again = *step == "creds" && i <= k;
            let expected = if again { 2 } else { 1 };
            assert_eq!(
                done["steps"][i]["attempts"], expected,
                "{step} after a kill after {name}"
            );
        }
    }
}
