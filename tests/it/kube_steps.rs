//! Kubernetes step kinds through the CLI: apply adopts on resume, dry-run changes nothing,
//! scale records and restores.

use crate::harness::World;
use crate::sandbox::{deployment, fixture, healthy_cluster, replicas, Kube};

/// Rewrites the only run's checkpoint as if the process died while `step` was running.
fn kill_during(w: &World, step: &str) -> String {
    let path = std::fs::read_dir(w.state.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state["status"] = "interrupted".into();
    let mut after = false;
    for s in state["steps"].as_array_mut().unwrap() {
        if s["id"] == step {
            s["status"] = "running".into();
            s["outputs"] = serde_json::json!({});
            after = true;
        } else if after {
            s["status"] = "pending".into();
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    state["run_id"].as_str().unwrap().to_string()
}

#[test]
fn apply_labels_what_it_creates_and_a_resumed_run_adopts_it() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("work");
    kube.run(&w, &["run", &fixture("apply.yaml")]).code(0);
    let id = w.only_run()["run_id"].as_str().unwrap().to_string();
    let notices = kube.list("ConfigMap", "work", "cnpgops.io/step=notice");
    assert_eq!(notices.len(), 1);
    let name = notices[0]["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("notice-"), "{name}");
    assert_eq!(
        notices[0]["metadata"]["labels"]["cnpgops.io/run-id"],
        id.as_str()
    );
    let settings = kube.get("ConfigMap", "work", "settings").unwrap();
    let labels = &settings["metadata"]["labels"];
    assert_eq!(
        (labels["app"].as_str(), labels["cnpgops.io/step"].as_str()),
        (Some("demo"), Some("settings"))
    );
    let managers: Vec<&str> = settings["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["cnpgops"], "server-side apply as cnpgops");

    // The process "died" after creating the object but before checkpointing the step.
    assert_eq!(kill_during(&w, "notice"), id);
    let ran = kube.run(&w, &["resume", &id]);
    ran.code(0);
    assert!(
        ran.stderr.contains(&format!(
            "adopting ConfigMap work/{name} created by an earlier attempt"
        )),
        "{}",
        ran.stderr
    );
    let notices = kube.list("ConfigMap", "work", &format!("cnpgops.io/run-id={id}"));
    assert_eq!(notices.len(), 2, "no duplicate: {notices:#?}");
    assert_eq!(w.only_run()["steps"][0]["outputs"]["name"], name.as_str());
    assert!(
        ran.stderr.contains(&format!("created {name} and settings")),
        "{}",
        ran.stderr
    );
}

fn writes_world() -> (World, Kube) {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("work");
    healthy_cluster(&kube, "work", "db");
    deployment(&kube, "work", "app", 3);
    kube.create("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: existing, namespace: work}\ndata: {changed: 'no'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: work}\n");
    (w, kube)
}

#[test]
fn dry_run_reads_for_real_and_leaves_every_object_unchanged() {
    let (w, kube) = writes_world();
    kube.settle();
    let before = kube.everything();
    let ran = kube.run(&w, &["run", &fixture("writes.yaml"), "--dry-run"]);
    ran.code(0);
    let after = kube.everything();
    let changed: Vec<&String> = after.0.iter().filter(|o| !before.0.contains(o)).collect();
    assert!(changed.is_empty(), "objects changed: {changed:#?}");
    assert_eq!(before.0, after.0, "objects changed");
    assert_eq!(
        before.1, after.1,
        "etcd's newest write moved: something was written"
    );
    for expected in [
        "dry run: server accepted scaling Deployment work/app from 3 to 0 replicas",
        "dry run: server accepted applying ConfigMap work/notice (would be created)",
        "dry run: server accepted applying ConfigMap work/existing (would be updated)",
        "dry run: server accepted deleting ConfigMap work/old",
    ] {
        assert!(
            ran.stderr.contains(expected),
            "missing `{expected}`:\n{}",
            ran.stderr
        );
    }
    let state = w.only_run();
    assert_eq!(
        state["steps"][1]["outputs"]["fields"]["phase"], "Cluster in healthy state",
        "reads are real"
    );
    // The oracle sees a write: one real patch moves etcd's newest write.
    let patch =
        kube::api::Patch::Merge(serde_json::json!({"metadata": {"labels": {"seen": "yes"}}}));
    kube.block_on(kube.api("ConfigMap", "work").patch(
        "existing",
        &kube::api::PatchParams::default(),
        &patch,
    ))
    .unwrap();
    assert!(kube.everything().1 > after.1, "a write is seen");
}

#[test]
fn scale_records_the_previous_replicas_and_an_always_step_restores_them() {
    let (w, kube) = writes_world();
    let ran = kube.run(&w, &["run", &fixture("writes.yaml"), "-p", "fail=true"]);
    ran.code(4);
    let state = w.only_run();
    assert_eq!(state["steps"][2]["outputs"]["previous"], 3);
    assert_eq!(state["steps"][2]["notes"]["previous"], 3);
    assert_eq!(state["steps"][7]["status"], "succeeded");
    assert_eq!(
        replicas(&kube, "work", "app"),
        3,
        "restored after the failure"
    );
    assert!(
        kube.get("ConfigMap", "work", "old").is_none(),
        "deleted and waited for"
    );
    assert_eq!(
        kube.get("ConfigMap", "work", "existing").unwrap()["data"]["changed"],
        "yes"
    );
    assert_eq!(
        kube.get("ConfigMap", "work", "notice").unwrap()["data"]["phase"],
        "Cluster in healthy state"
    );

    // Resumed after dying mid-scale, it restores the original count, not the scaled one.
    kube.block_on(kube.api("Deployment", "work").patch(
        "app",
        &Default::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 0}})),
    ))
    .unwrap();
    let id = kill_during(&w, "down");
    kube.run(&w, &["resume", &id]).code(4);
    assert_eq!(replicas(&kube, "work", "app"), 3);
}

#[test]
fn a_wait_that_times_out_names_the_object_and_its_state() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("work");
    let file = w.path("wait.yaml");
    std::fs::write(&file, "name: w\nsummary: s\nsteps:\n  - id: ready\n    uses: kube.wait\n    with: {kind: Cluster, name: db, namespace: work, condition: cluster_healthy, timeout: 1s}\n").unwrap();
    let ran = kube.run(&w, &["run", file.to_str().unwrap()]);
    ran.code(4);
    assert!(ran.stderr.contains("timed out after 1s waiting for Cluster work/db to be cluster_healthy (last seen: not found)"), "{}", ran.stderr);
}
