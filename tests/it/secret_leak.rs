//! Leak scan against the sandbox: values planted in a Secret the run reads (one of them a
//! connection URI with a password) never reach stdout, stderr at trace level (text and JSON
//! logs), the checkpoint file, the run-state ConfigMap, the `-o json` events and report,
//! `runs show`, or any other object in the cluster.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::harness::World;
use crate::sandbox::Kube;

const PASSWORD: &str = "Zq8-PLANTED-pw\"k3y";
const URI: &str = "postgresql://app:Xr5%2FPLANTEDuri@db.leak.svc:5432/app?sslmode=require";

const RUNBOOK: &str = r#"name: leak
summary: reads a Secret and tries hard to leak it
steps:
  - id: creds
    uses: kube.secret
    with: {name: app-creds, namespace: leak}
  - id: one
    uses: kube.secret
    with: {name: app-creds, namespace: leak, keys: [password]}
  - id: plain
    uses: log
    with: {message: "password {{ steps.creds.outputs.password }} uri {{ steps.creds.outputs.uri }}"}
  - id: uri_password
    uses: log
    with: {message: "from the uri: {{ steps.creds.outputs.uri | split('@') | first | split(':') | last }}"}
  - id: encoded
    uses: log
    with: {message: "{{ steps.one.outputs.password | urlencode }} {{ steps.one.outputs.password | b64encode }} {{ steps.creds.outputs.uri | b64encode }}"}
  - id: fail
    uses: assert
    with: {that: false, message: "cannot connect to {{ steps.creds.outputs.uri }} as {{ steps.creds.outputs.password }}"}
"#;

/// The planted values in the forms a leak could take.
fn needles() -> Vec<String> {
    let b64 = |v: &str| STANDARD.encode(v)[..16].to_string();
    vec![
        "PLANTED".to_string(),
        "Xr5/".to_string(),
        b64(PASSWORD),
        b64(URI),
    ]
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    crate::leaks::assert_clean(&needles(), &[(what.to_string(), text.to_string())]);
}

fn plant(kube: &Kube) {
    kube.namespace("leak");
    kube.create(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: app-creds, namespace: leak}}\ndata:\n  password: {}\n  uri: {}\n  username: {}\n",
        STANDARD.encode(PASSWORD),
        STANDARD.encode(URI),
        STANDARD.encode("app")
    ));
}

#[test]
fn planted_secrets_never_leak_anywhere() {
    let (w, kube) = (World::new(), Kube::plain());
    plant(&kube);
    let file = w.path("leak.yaml");
    std::fs::write(&file, RUNBOOK).unwrap();
    let file = file.to_str().unwrap();
    let cm_state = ["--state", "kubernetes", "--state-namespace", "leak"];

    // The ConfigMap store, JSON events and JSON logs at trace level.
    let mut args = vec!["run", file, "-o", "json", "--log-format", "json", "-vvv"];
    args.extend_from_slice(&cm_state);
    let ran = kube.run(&w, &args);
    ran.code(4);
    assert!(
        ran.stdout.contains("********"),
        "nothing was masked: {}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("from the uri: ********"),
        "{}",
        ran.stdout
    );
    assert_clean("json stdout", &ran.stdout);
    assert_clean("json stderr", &ran.stderr);
    let report = ran.stdout.lines().last().unwrap();
    assert!(report.contains("run_finished"), "{report}");
    let id = serde_json::from_str::<serde_json::Value>(report).unwrap()["report"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Resume reads the Secret again (secrets are never stored) and still leaks nothing.
    let mut args = vec!["resume", &id, "-vvv"];
    args.extend_from_slice(&cm_state);
    let ran = kube.run(&w, &args);
    ran.code(4);
    assert_clean("resume stdout", &ran.stdout);
    assert_clean("resume stderr", &ran.stderr);
    let mut args = vec!["runs", "show", &id, "-o", "json"];
    args.extend_from_slice(&cm_state);
    assert_clean("runs show", &kube.run(&w, &args).code(0).stdout);
    let cms = kube.list("ConfigMap", "leak", "app.kubernetes.io/managed-by=cnpgops");
    assert_eq!(cms.len(), 1);
    let state = cms[0]["data"]["state.json"].as_str().unwrap();
    assert!(state.contains("cannot connect to ********"), "{state}");
    assert_clean(
        "run-state ConfigMap",
        &serde_json::to_string(&cms[0]).unwrap(),
    );

    // The file store, text output and text logs at trace level.
    let ran = kube.run(&w, &["run", file, "-vvv"]);
    ran.code(4);
    assert_clean("text stdout", &ran.stdout);
    assert_clean("text stderr", &ran.stderr);
    assert!(ran.stderr.contains("TRACE"), "no trace-level logs");
    let checkpoints = w.checkpoints();
    assert_eq!(checkpoints.len(), 1);
    assert_clean("checkpoint file", &checkpoints[0]);

    // Nothing else in the cluster holds them but the Secret itself.
    let (objects, _) = kube.everything();
    for object in objects.iter().filter(|o| !o.contains("\"app-creds\"")) {
        assert_clean("a cluster object", object);
    }
}
