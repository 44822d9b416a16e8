//! `cnpgops run`: a full run, its checkpoint, refusal without a terminal, dry run, JSON output.

use crate::harness::World;

#[test]
fn a_run_writes_a_checkpoint_after_every_step() {
    let w = World::new();
    let marker = w.path("marker.log");
    let ran = w.run(&[
        "run",
        "selftest",
        "-p",
        "target=app-dev",
        "-p",
        &format!("marker={}", marker.display()),
        "--yes",
    ]);
    ran.code(0);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "selftest wrote to app-dev\n"
    );
    w.settings().bind(|| {
        insta::assert_snapshot!("run_stdout", ran.stdout);
        insta::assert_snapshot!("run_stderr", ran.stderr);
        insta::assert_snapshot!("run_checkpoint", w.checkpoints()[0]);
    });
    let state = w.only_run();
    let id = state["run_id"].as_str().unwrap();
    assert_eq!(state["runbook"]["origin"], "builtin:selftest.yaml");
    let shown = w.run(&["runs", "show", id, "-o", "json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&shown.stdout).unwrap(),
        state
    );
    let listed = w.run(&["runs", "list"]);
    assert!(
        listed.stdout.contains(id) && listed.stdout.contains("succeeded"),
        "{}",
        listed.stdout
    );
    w.run(&["resume", id]).code(2);
}

#[test]
fn no_terminal_and_no_yes_is_refused_before_anything_runs() {
    let w = World::new();
    let marker = w.path("marker.log");
    let ran = w.run(&[
        "run",
        "selftest",
        "-p",
        "target=app-dev",
        "-p",
        &format!("marker={}", marker.display()),
    ]);
    ran.code(3);
    assert!(ran.stderr.contains("pass --yes"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("selftest on app-dev"),
        "a step ran: {}",
        ran.stderr
    );
    assert!(!marker.exists());
    let state = w.only_run();
    assert_eq!(state["status"], "refused");
    assert!(state["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "pending"));
}

#[test]
fn dry_run_describes_the_write_without_asking_or_writing() {
    let w = World::new();
    let marker = w.path("marker.log");
    let ran = w.run(&[
        "run",
        "selftest",
        "-p",
        "target=app-dev",
        "-p",
        &format!("marker={}", marker.display()),
        "--dry-run",
    ]);
    ran.code(0);
    assert!(
        ran.stderr
            .contains("dry run: would ask to confirm `app-dev`"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("dry run: would append a line"),
        "{}",
        ran.stderr
    );
    assert!(!marker.exists());
}

#[test]
fn json_output_is_one_event_per_line_ending_with_the_report() {
    let w = World::new();
    let marker = w.path("m.log");
    let ran = w.run(&[
        "run",
        "selftest",
        "-p",
        "target=x",
        "-p",
        &format!("marker={}", marker.display()),
        "--yes",
        "-o",
        "json",
    ]);
    ran.code(0);
    let lines: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "run_started");
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["report"]["status"], "succeeded");
    assert_eq!(last["report"]["steps"].as_array().unwrap().len(), 5);
}

#[test]
fn a_failing_step_exits_4_and_runs_cleanup() {
    let w = World::new();
    let file = w.path("fail.yaml");
    std::fs::write(&file, "name: fail\nsummary: s\nsteps:\n  - id: check\n    uses: assert\n    with: {that: false, message: the sky is green}\n  - id: later\n    uses: log\n    with: {message: never}\n  - id: cleanup\n    uses: log\n    always: true\n    with: {message: cleaned up}\n").unwrap();
    let ran = w.run(&["run", file.to_str().unwrap()]);
    ran.code(4);
    assert!(
        ran.stderr.contains("assertion failed: the sky is green"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("cleaned up") && !ran.stderr.contains("never"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.contains("to continue: cnpgops resume"),
        "{}",
        ran.stdout
    );
}
