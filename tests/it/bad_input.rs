//! More bad runbooks and bad parameters: each is exit 2 ("bad input") with `file:line:col` and
//! what was expected, from `validate`, `plan` and `run` alike, and nothing is contacted or
//! recorded. With the fixtures of `runbooks.rs` that is well over 15 cases.

use crate::harness::World;

const H: &str = "name: rb\nsummary: s\n";

/// (case, runbook (after the header `H` unless it starts with `name:`), `line:col`, words).
const CASES: &[(&str, &str, &str, &str)] = &[
    ("bad-name", "name: Bad Name\nsummary: s\nsteps:\n  - id: a\n    uses: log\n    with: {message: hi}\n", "1:7", "invalid runbook name"),
    ("step-id", "steps:\n  - id: my-step\n    uses: log\n    with: {message: hi}\n", "4:9", "invalid step id `my-step`"),
    ("missing-input", "steps:\n  - id: a\n    uses: log\n    with: {}\n", "6:11", "missing input `message`"),
    ("unknown-input", "steps:\n  - id: a\n    uses: log\n    with: {message: hi, colour: red}\n", "6:33", "unknown input `colour`"),
    ("confirm-not-destructive", "steps:\n  - id: a\n    uses: log\n    confirm: x\n    with: {message: hi}\n", "6:14", "is not `destructive: true`"),
    ("destructive-without-confirm", "steps:\n  - id: a\n    uses: file.append\n    destructive: true\n    with: {path: /tmp/x, line: y}\n", "4:9", "needs `confirm:`"),
    ("duplicate-param", "params:\n  - {name: a, type: string}\n  - {name: a, type: int}\nsteps:\n  - id: s\n    uses: log\n    with: {message: hi}\n", "5:12", "duplicate param `a`"),
    ("template-syntax", "steps:\n  - id: a\n    uses: log\n    with: {message: \"{{ oops \"}\n", "6:21", "invalid template: syntax error"),
    ("no-such-output", "steps:\n  - id: a\n    uses: log\n    with: {message: hi}\n  - id: b\n    uses: log\n    with: {message: \"{{ steps.a.outputs.nope }}\"}\n", "9:21", "has no output `nope`"),
    ("retried-destructive", "steps:\n  - id: a\n    uses: file.append\n    destructive: true\n    confirm: x\n    retries: {attempts: 3}\n    with: {path: /tmp/x, line: y}\n", "4:9", "cannot be retried"),
    ("bad-timeout", "steps:\n  - id: a\n    uses: log\n    timeout: soon\n    with: {message: hi}\n", "6:14", "invalid timeout `soon`"),
    ("enum-default", "params:\n  - name: e\n    type: enum\n    values: [a, b]\n    default: c\nsteps:\n  - id: s\n    uses: log\n    with: {message: hi}\n", "7:14", "expected one of a, b"),
    ("unknown-field", "stepz: []\nsteps:\n  - id: a\n    uses: log\n    with: {message: hi}\n", "3:1", "unknown field `stepz`"),
    ("confirm-kind-without-target", "steps:\n  - id: a\n    uses: confirm\n    with: {message: hi}\n", "6:11", "missing input `target`"),
    ("when-unknown-param", "steps:\n  - id: a\n    uses: log\n    when: params.nope\n    with: {message: hi}\n", "6:11", "unknown param `nope`"),
    ("steps-not-a-list", "steps: {a: 1}\n", "3:8", "expected sequence"),
    ("param-type", "params:\n  - {name: a, type: float}\nsteps:\n  - id: s\n    uses: log\n    with: {message: hi}\n", "4:21", "unknown param type `float`"),
    ("tab-indent", "steps:\n\t- id: a\n", "4:2", "tabs"),
];

#[test]
fn bad_runbooks_name_file_line_col_and_touch_nothing() {
    let w = World::new();
    for (case, body, at, words) in CASES {
        let file = w.path(&format!("{case}.yaml"));
        let text = if body.starts_with("name:") {
            body.to_string()
        } else {
            format!("{H}{body}")
        };
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap();
        for args in [
            vec!["runbooks", "validate", path],
            vec!["plan", path],
            vec!["run", path, "--yes"],
        ] {
            let mut cmd = w.cmd(&args);
            // Contacting a cluster would fail with another exit code and message.
            cmd.env("KUBECONFIG", "/nonexistent/kubeconfig");
            let ran = w.run_with(cmd);
            assert_eq!(ran.code, 2, "{case} {args:?}: {}", ran.stderr);
            let expected = format!("{path}:{at}: ");
            assert!(
                ran.stderr.contains(&expected) && ran.stderr.contains(words),
                "{case}: expected `{expected}` and `{words}` in:\n{}",
                ran.stderr
            );
        }
    }
    assert!(w.checkpoints().is_empty(), "a bad runbook recorded a run");
}

#[test]
fn bad_parameters_name_the_param_declaration() {
    let w = World::new();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &[],
            "selftest.yaml:7:11: ",
            "missing required param `target`",
        ),
        (
            &["-p", "target=Bad_X"],
            "selftest.yaml:7:11: ",
            "does not match pattern",
        ),
        (
            &["-p", "target=x", "-p", "pause=forever"],
            "selftest.yaml:16:11: ",
            "expected a duration",
        ),
        (
            &["-p", "target=x", "-p", "nope=1"],
            "selftest.yaml:1:7: ",
            "unknown param `nope`",
        ),
    ];
    for (params, at, words) in cases {
        for verb in ["plan", "run"] {
            let mut args = vec![verb, "selftest"];
            args.extend_from_slice(params);
            let ran = w.run(&args);
            assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
            assert!(
                ran.stderr.contains(at) && ran.stderr.contains(words),
                "{args:?}: expected `{at}` and `{words}` in:\n{}",
                ran.stderr
            );
        }
    }
    assert!(w.checkpoints().is_empty());
}
