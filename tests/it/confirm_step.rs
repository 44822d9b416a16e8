//! `uses: confirm`: an explicit confirmation point through the engine's confirmation path.

use std::path::Path;

use crate::harness::{bin, Ran, World};

const RUNBOOK: &str = r#"name: gate
summary: a write, a confirmation point, a write
params:
  - {name: target, type: string, required: true}
  - {name: prod, type: bool, default: false}
  - {name: marker, type: string, required: true}
steps:
  - id: before
    uses: file.append
    with: {path: "{{ params.marker }}", line: before}
  - id: gate
    uses: confirm
    with: {target: "{{ params.target }}", message: "refresh {{ params.target }}", prod: "{{ params.prod }}"}
  - id: after
    uses: file.append
    with: {path: "{{ params.marker }}", line: "after {{ steps.gate.outputs.target }}"}
"#;

struct Gate {
    w: World,
    runbook: String,
    marker: std::path::PathBuf,
}

impl Gate {
    fn new(runbook: &str) -> Self {
        let w = World::new();
        let file = w.path("gate.yaml");
        std::fs::write(&file, runbook).unwrap();
        let marker = w.path("marker.log");
        Self {
            runbook: file.display().to_string(),
            marker,
            w,
        }
    }

    fn run(&self, extra: &[&str]) -> Ran {
        let marker = format!("marker={}", self.marker.display());
        let mut args = vec!["run", &self.runbook, "-p", "target=app-dev", "-p", &marker];
        args.extend_from_slice(extra);
        self.w.run(&args)
    }

    fn written(&self) -> Vec<String> {
        lines(&self.marker)
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

#[test]
fn no_terminal_and_no_yes_is_refused_before_anything_runs() {
    let g = Gate::new(RUNBOOK);
    let ran = g.run(&[]);
    ran.code(3);
    assert!(ran.stdout.contains("refused step `gate`"), "{}", ran.stdout);
    assert!(ran.stdout.contains("no terminal"), "{}", ran.stdout);
    assert!(g.written().is_empty(), "a step ran before the refusal");
    let state = g.w.only_run();
    assert_eq!(state["status"], "refused");
    assert_eq!(state["steps"][0]["status"], "pending");
}

#[test]
fn yes_answers_and_prod_also_needs_allow_prod() {
    let g = Gate::new(RUNBOOK);
    g.run(&["--yes"]).code(0);
    assert_eq!(g.written(), ["before", "after app-dev"]);

    let g = Gate::new(RUNBOOK);
    let ran = g.run(&["--yes", "-p", "prod=true"]);
    ran.code(3);
    assert!(ran.stdout.contains("--allow-prod"), "{}", ran.stdout);
    assert!(g.written().is_empty());
    g.run(&["--yes", "-p", "prod=true", "--allow-prod"]).code(0);
    assert_eq!(g.written(), ["before", "after app-dev"]);
}

#[test]
fn plan_and_dry_run_show_the_confirmation_without_asking() {
    let g = Gate::new(RUNBOOK);
    let ran = g.w.run(&[
        "plan",
        &g.runbook,
        "-p",
        "target=app-dev",
        "-p",
        "marker=/x",
    ]);
    ran.code(0);
    assert!(
        ran.stdout.contains("asks to confirm by typing `app-dev`"),
        "{}",
        ran.stdout
    );
    let ran = g.run(&["--dry-run"]);
    ran.code(0);
    assert!(
        ran.stderr.contains("would ask to confirm `app-dev`"),
        "{}",
        ran.stderr
    );
    assert!(g.written().is_empty());
}

#[test]
fn a_target_known_only_at_run_time_is_still_refused_up_front() {
    let g = Gate::new(&RUNBOOK.replace(
        r#"target: "{{ params.target }}""#,
        r#"target: "{{ steps.before.outputs.path }}""#,
    ));
    let ran = g.run(&[]);
    ran.code(3);
    assert!(ran.stdout.contains("refused step `gate`"), "{}", ran.stdout);
    assert!(g.written().is_empty(), "a step ran before the refusal");
    g.run(&["--yes"]).code(0);
    let path = g.marker.display().to_string();
    assert_eq!(g.written(), ["before".to_string(), format!("after {path}")]);
}

/// Runs the gate on a pseudo-terminal (util-linux `script`), typing `answer`.
fn on_terminal(g: &Gate, answer: &str) -> Ran {
    let command = format!(
        "{} run {} -p target=app-dev -p marker={}",
        bin(),
        g.runbook,
        g.marker.display()
    );
    let script =
        format!("(sleep 1; printf '{answer}\\r'; sleep 1) | script -qec '{command}' /dev/null");
    let mut cmd = g.w.program("sh");
    cmd.args(["-c", &script]).env("TERM", "xterm");
    g.w.run_with(cmd)
}

#[test]
fn on_a_terminal_the_typed_name_decides() {
    let g = Gate::new(RUNBOOK);
    let ran = on_terminal(&g, "app-prod");
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
    assert_eq!(g.written(), ["before"], "declining let `after` run");

    let g = Gate::new(RUNBOOK);
    on_terminal(&g, "app-dev").code(0);
    assert_eq!(g.written(), ["before", "after app-dev"]);
}
