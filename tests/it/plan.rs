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

#[test]
fn the_source_is_read_as_the_profiles_read_only_role_when_it_names_one() {
    let w = World::new();
    let config = w.path("config.yaml");
    std::fs::write(
        &config,
        "profile: ro\nprofiles:\n  ro:\n    read_only_secret: \"{app}-{env}-readonly\"\n",
    )
    .unwrap();
    let source_secret = |args: &[&str]| {
        let base = ["plan", "refresh-dev", "-p", "app=shop", "-o", "json"];
        let ran = w.run(&[args, &base[..]].concat());
        ran.code(0);
        let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(v["steps"][0]["id"], "source");
        assert_eq!(
            v["steps"][1]["inputs"]["secret"], "",
            "the target keeps its owner"
        );
        v["steps"][0]["inputs"]["secret"].clone()
    };
    let config = config.display().to_string();
    assert_eq!(source_secret(&["--config", &config]), "shop-prod-readonly");
    assert_eq!(
        source_secret(&[]),
        "",
        "the owner's (initdb) secret by default"
    );
}
