//! `cnpgops plan`: render only, and parameter validation.

use crate::harness::World;

#[test]
fn plan_renders_every_step_and_touches_nothing() {
    let w = World::new();
    let marker = w.path("x.log");
    let ran = w.run(&[
        "plan",
        "selftest",
        "-p",
        "target=app-dev",
        "-p",
        &format!("marker={}", marker.display()),
    ]);
    ran.code(0);
    w.settings().bind(|| insta::assert_snapshot!(ran.stdout));
    assert!(w.checkpoints().is_empty(), "plan recorded a run");
    assert!(!marker.exists(), "plan wrote the marker");
}

#[test]
fn plan_json_has_rendered_inputs() {
    let w = World::new();
    let ran = w.run(&["plan", "selftest", "-p", "target=app-dev", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["steps"][2]["confirm"], "app-dev");
    assert_eq!(
        v["steps"][4]["inputs"]["message"],
        "selftest finished; marker at <steps.write.outputs.path>"
    );
}

#[test]
fn bad_params_are_bad_input_at_the_declaration() {
    let w = World::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &[],
            "runbooks/selftest.yaml:7:11: missing required param `target` (string)",
        ),
        (&["-p", "target=App Dev"], "does not match pattern"),
        (
            &["-p", "target=a", "-p", "pause=soon"],
            "expected a duration",
        ),
        (
            &["-p", "target=a", "-p", "greet=yes"],
            "expected `true` or `false`",
        ),
        (
            &["-p", "target=a", "-p", "colour=red"],
            "runbooks/selftest.yaml:1:7: unknown param `colour`",
        ),
        (&["-p", "target"], "expected KEY=VALUE"),
    ];
    for (params, expected) in cases {
        let mut args = vec!["plan", "selftest"];
        args.extend_from_slice(params);
        let ran = w.run(&args);
        ran.code(2);
        assert!(ran.stderr.contains(expected), "{params:?}: {}", ran.stderr);
    }
}
