//! Global flags: `completions`, `-q/--quiet`, `--no-color` / `$NO_COLOR`, `--log-format json`.

use crate::harness::{bin, World};

fn selftest(w: &World, extra: &[&str]) -> Vec<String> {
    let marker = w.path("marker.log").display().to_string();
    let mut args: Vec<String> = ["run", "selftest", "-p", "target=app-dev", "--yes", "-p"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("marker={marker}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run(w: &World, args: &[String]) -> crate::harness::Ran {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    w.run(&args)
}

#[test]
fn completions_for_bash_zsh_and_fish_know_the_commands_and_flags() {
    let w = World::new();
    for shell in ["bash", "zsh", "fish"] {
        let ran = w.run(&["completions", shell]);
        ran.code(0);
        for word in [
            "runbooks",
            "resume",
            "completions",
            "log-format",
            "no-color",
        ] {
            assert!(ran.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    assert!(w
        .run(&["completions", "bash"])
        .stdout
        .contains("complete -F"));
    w.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn quiet_prints_only_errors_and_the_final_report() {
    let w = World::new();
    let ran = run(&w, &selftest(&w, &["-q"]));
    ran.code(0);
    assert_eq!(ran.stderr, "", "quiet run printed progress");
    assert!(ran.stdout.starts_with("run "), "{}", ran.stdout);
    assert!(ran.stdout.contains("succeeded"), "{}", ran.stdout);

    let file = w.path("fails.yaml");
    std::fs::write(
        &file,
        "name: fails\nsummary: s\nsteps:\n  - id: chatty\n    uses: log\n    with: {message: chatter}\n  - id: broken\n    uses: assert\n    with: {that: false, message: it broke}\n",
    )
    .unwrap();
    let ran = w.run(&["run", file.to_str().unwrap(), "--quiet"]);
    ran.code(4);
    assert!(!ran.stderr.contains("chatter"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("broken: failed: assertion failed: it broke"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.contains("it broke"),
        "the report: {}",
        ran.stdout
    );

    let ran = w.run(&["run", file.to_str().unwrap(), "-q", "-o", "json"]);
    let events: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["step_finished", "run_finished"], "{}", ran.stdout);
    w.run(&["-q", "-v", "version"]).code(2);
}

#[test]
fn log_format_json_lines_parse_at_trace_level_and_are_redacted() {
    let w = World::new();
    let file = w.path("leaky.yaml");
    std::fs::write(
        &file,
        "name: leaky\nsummary: s\nsteps:\n  - id: creds\n    uses: secret.env\n    with: {name: LOG_SECRET}\n  - id: say\n    uses: log\n    with: {message: \"pw {{ steps.creds.outputs.value }}\"}\n",
    )
    .unwrap();
    let mut cmd = w.cmd(&[
        "run",
        file.to_str().unwrap(),
        "-o",
        "json",
        "--log-format",
        "json",
        "-vvv",
    ]);
    cmd.env("LOG_SECRET", "Json\"Esc\\aped-secret");
    let ran = w.run_with(cmd);
    ran.code(0);
    let records: Vec<serde_json::Value> = ran
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = records
        .iter()
        .filter_map(|r| r["fields"]["message"].as_str())
        .collect();
    assert!(messages.contains(&"step attempt started"), "{messages:?}");
    assert!(records.iter().all(|r| r["level"].is_string()));
    let inputs: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["fields"]["message"] == "step inputs")
        .collect();
    assert!(
        inputs.iter().any(|r| r["fields"]["inputs"]
            .as_str()
            .unwrap_or_default()
            .contains("pw ********")),
        "the trace of inputs was not masked: {}",
        ran.stderr
    );
    for out in [&ran.stdout, &ran.stderr] {
        assert!(!out.contains("Esc"), "leak: {out}");
    }
}

/// Runs cnpgops on a pseudo-terminal (util-linux `script`) and returns what the terminal got.
fn on_terminal(w: &World, flags: &str, no_color_env: bool) -> String {
    let marker = w.path("tty-marker.log");
    let command = format!(
        "{} run selftest -p target=app-dev -p marker={} --yes -o json -vv {flags}",
        bin(),
        marker.display()
    );
    let mut cmd = w.program("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null());
    if no_color_env {
        cmd.env("NO_COLOR", "1");
    }
    let ran = w.run_with(cmd);
    ran.code(0);
    ran.stdout
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let w = World::new();
    let coloured = on_terminal(&w, "", false);
    assert!(
        coloured.contains("\x1b["),
        "no colour on a terminal: {coloured}"
    );
    assert!(coloured.contains("step attempt started"));
    for (flags, env) in [("--no-color", false), ("", true)] {
        let plain = on_terminal(&w, flags, env);
        assert!(plain.contains("step attempt started"), "{plain}");
        assert!(
            !plain.contains('\x1b'),
            "colour with {flags:?} NO_COLOR={env}: {plain:?}"
        );
    }
    // Not a terminal: no colour either.
    let ran = run(&w, &selftest(&w, &["-vv"]));
    assert!(ran.stderr.contains("step attempt started") && !ran.stderr.contains('\x1b'));
}
