//! A planted secret never reaches stdout, stderr (even at trace level) or checkpoint files.

use crate::harness::World;

const SECRET: &str = "Pl4nted/S3cret value!";

const RUNBOOK: &str = r#"name: leaky
summary: tries hard to leak a secret
steps:
  - id: creds
    uses: secret.env
    with: {name: PLANTED_SECRET}
  - id: plain
    uses: log
    with: {message: "plain {{ steps.creds.outputs.value }}"}
  - id: uri
    uses: log
    with: {message: "postgres://app:{{ steps.creds.outputs.value | urlencode }}@db/app"}
  - id: b64
    uses: log
    with: {message: "data: {{ ('user=' ~ steps.creds.outputs.value) | b64encode }}"}
  - id: fail
    uses: assert
    with: {that: false, message: "bad password {{ steps.creds.outputs.value }}"}
"#;

fn leaks(text: &str) -> Vec<&'static str> {
    let forms = [
        "Pl4nted",
        "Pl4nted%2FS3cret",
        "UGw0bnRlZC9TM2NyZXQgdmFsdWUh",
        "bnRlZC9TM2NyZXQgdmFsdWUh",
    ];
    forms.into_iter().filter(|f| text.contains(f)).collect()
}

#[test]
fn every_output_is_redacted() {
    let w = World::new();
    let file = w.path("leaky.yaml");
    std::fs::write(&file, RUNBOOK).unwrap();
    for output in ["text", "json"] {
        let mut cmd = w.cmd(&["run", file.to_str().unwrap(), "-o", output, "-vvv"]);
        cmd.env("PLANTED_SECRET", SECRET);
        let ran = w.run_with(cmd);
        ran.code(4);
        assert!(
            ran.stderr.contains("********") || ran.stdout.contains("********"),
            "nothing was masked"
        );
        for (name, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
            assert!(
                leaks(text).is_empty(),
                "{output} {name} leaks {:?}:\n{text}",
                leaks(text)
            );
        }
    }
    let checkpoints = w.checkpoints();
    assert_eq!(checkpoints.len(), 2);
    for text in &checkpoints {
        assert!(leaks(text).is_empty(), "checkpoint leaks: {text}");
        assert!(text.contains("bad password ********"), "{text}");
    }
}
