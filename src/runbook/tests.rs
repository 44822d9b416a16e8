//! Validation tests: each bad runbook names file:line:col and what was expected.

use super::*;
use crate::steps::registry;

fn check(text: &str) -> Result<Loaded, RunbookError> {
    load(Source::builtin("t.yaml", text), &registry())
}

fn err(text: &str) -> String {
    check(text).unwrap_err().to_string()
}

const HEAD: &str = "name: t\nsummary: s\n";

#[test]
fn a_good_runbook_validates() {
    let text = format!("{HEAD}params:\n  - name: n\n    type: int\n    default: 3\nsteps:\n  - id: a\n    uses: log\n    with: {{message: \"{{{{ params.n }}}}\"}}\n  - id: b\n    uses: log\n    when: steps.a.outputs.message == '3'\n    with: {{message: \"{{{{ steps.a.outputs.message }}}}\"}}\n");
    let loaded = check(&text).unwrap();
    assert_eq!(loaded.runbook.steps.len(), 2);
    assert_eq!(loaded.runbook.params[0].default, Some(serde_json::json!(3)));
}

#[test]
fn every_embedded_runbook_validates() {
    for (file, text) in known::BUILTIN {
        load(Source::builtin(file, text), &registry()).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

/// (runbook body after the header, expected position, expected words)
const BAD: &[(&str, &str, &str)] = &[
    ("steps:\n  - id: a\n    uses: nope\n", "t.yaml:5:11:", "unknown step kind `nope`"),
    ("steps:\n  - id: a\n    uses: log\n    with: {message: x}\n  - id: a\n    uses: log\n    with: {message: y}\n", "t.yaml:7:9:", "duplicate step id `a`"),
    ("steps:\n  - id: a\n    uses: log\n    with: {message: \"{{ params.x }}\"}\n", "t.yaml:6:21:", "unknown param `x`"),
    ("steps:\n  - id: a\n    uses: log\n    with: {message: \"{{ steps.b.outputs.message }}\"}\n  - id: b\n    uses: log\n    with: {message: y}\n", "t.yaml:6:21:", "does not run before"),
    ("steps:\n  - id: a\n    uses: log\n    with: {message: \"{{ nope }}\"}\n", "t.yaml:6:21:", "unknown name `nope`"),
    ("steps:\n  - id: a\n    uses: log\n    with: {message: \"{{ oops\"}\n", "t.yaml:6:21:", "invalid template"),
    ("steps:\n  - id: a\n    uses: log\n    with: {mesage: x}\n", "t.yaml:6:", "unknown input `mesage`"),
    ("steps:\n  - id: a\n    uses: log\n", "t.yaml:4:9:", "missing input `message`"),
    ("steps:\n  - id: a\n    uses: file.append\n    destructive: true\n    with: {path: p, line: l}\n", "t.yaml:4:9:", "needs `confirm:`"),
    ("steps:\n  - id: a\n    uses: file.append\n    destructive: true\n    confirm: x\n    retries: {attempts: 3}\n    with: {path: p, line: l}\n", "t.yaml:4:9:", "cannot be retried"),
    ("steps:\n  - id: a\n    uses: log\n    timeout: soon\n    with: {message: x}\n", "t.yaml:6:14:", "invalid timeout `soon`"),
    ("steps:\n  - id: my-step\n    uses: log\n    with: {message: x}\n", "t.yaml:4:9:", "invalid step id"),
    ("steps: []\n", "t.yaml:3:", "at least one step"),
    ("params:\n  - name: p\n    type: float\nsteps:\n  - id: a\n    uses: log\n    with: {message: x}\n", "t.yaml:5:11:", "unknown param type `float`"),
    ("params:\n  - name: p\n    type: int\n    default: abc\nsteps:\n  - id: a\n    uses: log\n    with: {message: x}\n", "t.yaml:6:14:", "invalid default for param `p`"),
    ("params:\n  - name: p\n    type: enum\nsteps:\n  - id: a\n    uses: log\n    with: {message: x}\n", "t.yaml:5:11:", "non-empty `values:`"),
    ("params:\n  - name: p\n    type: string\n    pattern: \"([\"\nsteps:\n  - id: a\n    uses: log\n    with: {message: x}\n", "t.yaml:6:14:", "invalid pattern"),
    ("steps:\n  - id: a\n    uses: log\n    when: \"params.\"\n    with: {message: x}\n", "t.yaml:6:11:", "invalid template"),
    ("steps:\n  - id: a\n    uses: log\n    with: [x]\n", "t.yaml:6:11:", "must be a mapping"),
];

#[test]
fn bad_runbooks_name_position_and_expectation() {
    let mut wrong = Vec::new();
    for (body, at, words) in BAD {
        let text = format!("{HEAD}{body}");
        let message = err(&text);
        if !(message.contains(at) && message.contains(words)) {
            wrong.push(format!(
                "runbook:\n{text}expected `{at}` and `{words}` in:\n{message}\n"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = format!("{HEAD}steps:\n  - id: a\n    uses: nope\n  - id: a\n    uses: log\n    with: {{message: x}}\n");
    let e = check(&text).unwrap_err();
    assert_eq!(e.diagnostics().len(), 2, "{e}");
}
