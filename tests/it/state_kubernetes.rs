//! `--state kubernetes`: run state in one ConfigMap per run; round trip, conflicts, no secrets.

use std::sync::Arc;

use cnpgops::support::{ConfigMapStore, Connector, KubeOptions, StateStore, StoreError};

use crate::harness::World;
use crate::sandbox::Kube;

fn store(kube: &Kube, ns: &str) -> Arc<ConfigMapStore> {
    let connector = Connector::new(KubeOptions {
        kubeconfig: Some(kube.kubeconfig.clone()),
        ..Default::default()
    });
    Arc::new(ConfigMapStore::new(connector, Some(ns.into())))
}

#[test]
fn a_run_is_one_labelled_configmap_and_runs_list_and_show_read_it() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("ops");
    let marker = w.path("m.log");
    let args = ["run", "selftest", "-p", "target=app-dev", "-p"];
    let marker_arg = format!("marker={}", marker.display());
    let state = ["--yes", "--state", "kubernetes", "--state-namespace", "ops"];
    let all: Vec<&str> = args
        .iter()
        .chain([&marker_arg.as_str()])
        .chain(&state)
        .copied()
        .collect();
    kube.run(&w, &all).code(0);
    assert!(w.checkpoints().is_empty(), "nothing in the local state dir");

    let cms = kube.list("ConfigMap", "ops", "app.kubernetes.io/managed-by=cnpgops");
    assert_eq!(cms.len(), 1, "{cms:?}");
    let cm = &cms[0];
    let labels = &cm["metadata"]["labels"];
    assert_eq!(labels["cnpgops.io/runbook"], "selftest");
    let stored: serde_json::Value =
        serde_json::from_str(cm["data"]["state.json"].as_str().unwrap()).unwrap();
    let id = stored["run_id"].as_str().unwrap();
    assert_eq!(cm["metadata"]["name"], format!("cnpgops-run-{id}"));
    assert_eq!(stored["status"], "succeeded");

    let shown = kube.run(
        &w,
        &[
            "runs",
            "show",
            id,
            "-o",
            "json",
            "--state",
            "kubernetes",
            "--state-namespace",
            "ops",
        ],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&shown.code(0).stdout).unwrap(),
        stored
    );
    let listed = kube.run(
        &w,
        &[
            "runs",
            "list",
            "--state",
            "kubernetes",
            "--state-namespace",
            "ops",
        ],
    );
    assert!(listed.code(0).stdout.contains(id), "{}", listed.stdout);
    kube.run(
        &w,
        &[
            "resume",
            id,
            "--state",
            "kubernetes",
            "--state-namespace",
            "ops",
        ],
    )
    .code(2);
    let missing = kube.run(
        &w,
        &[
            "runs",
            "show",
            "20990101-000000-ffff",
            "--state",
            "kubernetes",
        ],
    );
    assert!(
        missing.code(2).stderr.contains("namespace default"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_second_writer_gets_a_conflict_and_does_not_overwrite() {
    let kube = Kube::plain();
    let (a, b) = (store(&kube, "default"), store(&kube, "default"));
    let mut state: cnpgops::support::RunState = serde_json::from_value(serde_json::json!({
        "version": 1, "run_id": "20260101-000000-abcd",
        "runbook": {"name": "t", "origin": "builtin:t.yaml", "digest": "sha256:0"},
        "mode": "real", "params": {}, "status": "running", "message": null,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "steps": []
    }))
    .unwrap();
    kube.block_on(async {
        a.save(&state).await.unwrap();
        let err = b.save(&state).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { .. }),
            "creating over an existing run: {err}"
        );
        b.load(&state.run_id).await.unwrap();
        state.message = Some("from a".into());
        a.save(&state).await.unwrap();
        state.message = Some("from b".into());
        let err = b.save(&state).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Conflict { .. }), "{text}");
        assert!(
            text.contains("ConfigMap default/cnpgops-run-20260101-000000-abcd")
                && text.contains("not overwriting"),
            "{text}"
        );
        assert_eq!(
            a.load(&state.run_id).await.unwrap().message.as_deref(),
            Some("from a")
        );
        // After reading the latest version, the second writer may continue.
        b.load(&state.run_id).await.unwrap();
        b.save(&state).await.unwrap();
        assert_eq!(a.list().await.unwrap().len(), 1);
    });
}

#[test]
fn a_secret_the_run_reads_never_reaches_the_configmap() {
    let (w, kube) = (World::new(), Kube::plain());
    let file = w.path("secret.yaml");
    std::fs::write(&file, "name: secretive\nsummary: s\nsteps:\n  - id: key\n    uses: secret.env\n    with: {name: PLANTED}\n  - id: say\n    uses: log\n    with: {message: \"key is {{ steps.key.outputs.value }}\"}\n").unwrap();
    let mut cmd = kube.cmd(
        &w,
        &["run", file.to_str().unwrap(), "--state", "kubernetes"],
    );
    cmd.env("PLANTED", "hunter2-planted-value");
    let ran = w.run_with(cmd);
    ran.code(0);
    let cms = kube.list("ConfigMap", "default", "cnpgops.io/runbook=secretive");
    let text = serde_json::to_string(&cms).unwrap();
    assert_eq!(cms.len(), 1);
    assert!(!text.contains("hunter2-planted-value"), "{text}");
    assert!(!ran.stderr.contains("hunter2-planted-value") && !ran.stdout.contains("hunter2"));
}
