//! `cnpgops runbooks list|show|validate` and bad runbooks.

use crate::harness::{root, World};

#[test]
fn every_file_in_runbooks_dir_validates_and_is_embedded() {
    let w = World::new();
    let dir = root().join("runbooks");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    assert!(!files.is_empty());
    for file in &files {
        let ran = w.run(&["runbooks", "validate", file.to_str().unwrap()]);
        ran.code(0);
        assert!(ran.stdout.starts_with("ok: "), "{}", ran.stdout);
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let listed = w.run(&["runbooks", "list"]);
        assert!(
            listed.stdout.contains(stem),
            "{} is not embedded: {}",
            stem,
            listed.stdout
        );
    }
}

#[test]
fn bad_runbooks_are_bad_input_with_file_line_col() {
    let w = World::new();
    let dir = root().join("tests/it/fixtures/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut report = String::new();
    for file in &files {
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let ran = w.run(&["runbooks", "validate", &rel]);
        ran.code(2);
        assert!(ran.stderr.contains(&format!("{rel}:")), "{}", ran.stderr);
        report.push_str(&ran.stderr);
        // `plan` and `run` refuse the same file the same way, and nothing is recorded.
        w.run(&["plan", &rel]).code(2);
        w.run(&["run", &rel, "--yes"]).code(2);
    }
    assert!(w.checkpoints().is_empty());
    assert!(
        report.contains("known kinds: ") && report.contains(", assert, "),
        "{report}"
    );
    let mut settings = w.settings();
    // The list grows with every new kind; that it is there is asserted above.
    settings.add_filter(r"known kinds: [a-z_., ]+", "known kinds: [KINDS]");
    settings.bind(|| insta::assert_snapshot!(report));
}

#[test]
fn validate_json_lists_diagnostics() {
    let w = World::new();
    let ran = w.run(&[
        "runbooks",
        "validate",
        "tests/it/fixtures/bad/duplicate-id.yaml",
        "-o",
        "json",
    ]);
    ran.code(2);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(
        v["diagnostics"][0]["pos"],
        serde_json::json!({"line": 7, "col": 9})
    );
}

#[test]
fn list_and_show() {
    let w = World::new();
    let ran = w.run(&["runbooks", "show", "selftest"]);
    ran.code(0);
    insta::assert_snapshot!(ran.stdout);
    w.run(&["runbooks", "show", "no-such-runbook"]).code(2);
}

#[test]
fn user_runbooks_dir_adds_runbooks() {
    let w = World::new();
    std::fs::write(
        w.path("mine.yaml"),
        "name: mine\nsummary: my own\nsteps:\n  - id: a\n    uses: log\n    with: {message: hi}\n",
    )
    .unwrap();
    let dir = w.scratch.path().to_str().unwrap();
    let ran = w.run(&["--runbooks-dir", dir, "runbooks", "list"]);
    assert!(
        ran.stdout.contains("mine") && ran.stdout.contains("selftest"),
        "{}",
        ran.stdout
    );
    w.run(&["--runbooks-dir", dir, "run", "mine"]).code(0);
}

#[test]
fn version_and_an_unreachable_state_backend() {
    let w = World::new();
    let ran = w.run(&["version"]);
    assert_eq!(
        ran.stdout,
        format!("cnpgops {}\n", env!("CARGO_PKG_VERSION"))
    );
    let mut cmd = w.cmd(&["--state", "kubernetes", "runs", "list"]);
    cmd.env("KUBECONFIG", "/nonexistent/kubeconfig");
    let ran = w.run_with(cmd);
    ran.code(1);
    assert!(
        ran.stderr
            .contains("failed to read kubeconfig /nonexistent/kubeconfig"),
        "{}",
        ran.stderr
    );
}
