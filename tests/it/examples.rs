//! `runbooks/examples/`: each validates, and maintenance-window runs end to end on a sandbox.

use crate::harness::{root, World};
use crate::sandbox::{deployment, healthy_cluster, replicas, Kube};

fn example(name: &str) -> String {
    root()
        .join("runbooks/examples")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn every_example_validates_and_plans_without_a_cluster() {
    let w = World::new();
    for entry in std::fs::read_dir(root().join("runbooks/examples")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.to_str().unwrap();
        w.run(&["runbooks", "validate", file]).code(0);
    }
    // No kubeconfig that works: plan must not contact anything.
    let mut cmd = w.cmd(&[
        "plan",
        &example("maintenance-window.yaml"),
        "-p",
        "app=shop",
    ]);
    cmd.env("KUBECONFIG", "/nonexistent");
    let ran = w.run_with(cmd);
    ran.code(0);
    w.settings()
        .bind(|| insta::assert_snapshot!("maintenance_plan", ran.stdout));
}

#[test]
fn maintenance_window_runs_end_to_end() {
    let (w, kube) = (World::new(), Kube::start());
    kube.namespace("databases");
    kube.namespace("web-shop-dev");
    healthy_cluster(&kube, "databases", "shop-dev-cnpg");
    deployment(&kube, "web-shop-dev", "shop", 2);
    let ran = kube.run(
        &w,
        &[
            "run",
            &example("maintenance-window.yaml"),
            "-p",
            "app=shop",
            "-p",
            "window=1s",
            "--yes",
        ],
    );
    ran.code(0);
    assert_eq!(replicas(&kube, "web-shop-dev", "shop"), 2);
    assert!(kube
        .get("ConfigMap", "web-shop-dev", "maintenance")
        .is_none());
    assert!(kube
        .get("Lease", "databases", "cnpgops-lock-databases-shop-dev-cnpg")
        .is_none());
    let state = w.only_run();
    assert_eq!(state["steps"][1]["outputs"]["fields"]["instances"], 1);
    assert_eq!(state["steps"][2]["outputs"]["previous"], 2);
    let mut settings = w.settings();
    settings.add_filter(r"resourceVersion \d+", "resourceVersion [RV]");
    settings.add_filter(r"\[RUN_ID\]@\S+", "[RUN_ID]@[HOST]");
    settings.bind(|| {
        insta::assert_snapshot!("maintenance_stderr", ran.stderr);
        insta::assert_snapshot!("maintenance_stdout", ran.stdout);
    });
}

#[test]
fn a_failed_health_check_still_releases_the_lock_and_skips_the_restore() {
    let (w, kube) = (World::new(), Kube::plain());
    kube.namespace("web-shop-dev");
    deployment(&kube, "web-shop-dev", "shop", 2);
    let file = w.path("quick.yaml");
    let text = std::fs::read_to_string(example("maintenance-window.yaml")).unwrap();
    std::fs::write(&file, text.replace("timeout: 10m", "timeout: 1s")).unwrap();
    kube.namespace("databases");
    let ran = kube.run(
        &w,
        &["run", file.to_str().unwrap(), "-p", "app=shop", "--yes"],
    );
    ran.code(4);
    assert!(
        ran.stderr.contains(
            "Cluster databases/shop-dev-cnpg to be cluster_healthy (last seen: not found)"
        ),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("scale_up: skipped"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("released Lease databases/cnpgops-lock-databases-shop-dev-cnpg"),
        "{}",
        ran.stderr
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "shop"), 2);
}
