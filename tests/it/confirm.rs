//! Confirmation on a real pseudo-terminal (util-linux `script`): declining changes nothing.

use crate::harness::World;

/// Runs selftest under a pseudo-terminal, typing `answer` at the prompt.
fn run_on_pty(w: &World, marker: &std::path::Path, answer: &str) -> crate::harness::Ran {
    let command = format!(
        "{} run selftest -p target=app-dev -p marker={}",
        crate::harness::bin(),
        marker.display()
    );
    let script =
        format!("(sleep 1; printf '{answer}\\r'; sleep 1) | script -qec '{command}' /dev/null");
    let mut cmd = w.program("sh");
    cmd.args(["-c", &script]).env("TERM", "xterm");
    w.run_with(cmd)
}

#[test]
fn declining_on_a_terminal_is_refused_and_writes_nothing() {
    let w = World::new();
    let marker = w.path("marker.log");
    let ran = run_on_pty(&w, &marker, "app-prod");
    ran.code(3);
    assert!(
        ran.stdout.contains("Type `app-dev` to confirm"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("confirmation declined"),
        "{}",
        ran.stdout
    );
    assert!(!marker.exists());
    assert_eq!(w.only_run()["steps"][2]["status"], "pending");
}

#[test]
fn typing_the_name_on_a_terminal_runs_the_step() {
    let w = World::new();
    let marker = w.path("marker.log");
    run_on_pty(&w, &marker, "app-dev").code(0);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "selftest wrote to app-dev\n"
    );
}
