//! A Cluster whose recovery Job fails never becomes healthy (CNPG leaves it "Setting up
//! primary"): `kube.wait` for `cluster_healthy` fails at once naming the failed Job, instead
//! of waiting out its timeout.

use serde_json::json;

use crate::harness::World;
use crate::sandbox::Kube;

const RUNBOOK: &str = r#"
name: wait-late
summary: wait for a recovering Cluster
steps:
  - id: wait
    uses: kube.wait
    with:
      kind: Cluster
      namespace: databases
      name: late-cnpg
      condition: cluster_healthy
      timeout: 10m
"#;

#[test]
fn a_failed_recovery_job_fails_the_wait_at_once() {
    let (kube, w) = (Kube::start(), World::new());
    kube.scenario("synestra.yaml");
    let prod = kube
        .get("Cluster", "databases", "synestra-io-cnpg")
        .unwrap();
    let mut store = prod["spec"]["backup"]["barmanObjectStore"].clone();
    store["serverName"] = json!("synestra-io-cnpg");
    // A target a day past the end of the archive: the replay ends before it, recovery fails.
    let late = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let cluster = json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "late-cnpg", "namespace": "databases"},
        "spec": {"instances": 1, "storage": {"size": "1Gi"},
            "bootstrap": {"recovery": {"source": "origin", "recoveryTarget": {"targetTime": late}}},
            "externalClusters": [{"name": "origin", "barmanObjectStore": store}]}
    });
    kube.create(&serde_json::to_string(&cluster).unwrap());

    let file = w.path("wait-late.yaml");
    std::fs::write(&file, RUNBOOK).unwrap();
    let ran = kube.run(&w, &["run", file.to_str().unwrap()]);
    ran.code(4);
    assert!(
        ran.stderr
            .contains("its Job databases/late-cnpg-1-full-recovery failed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("kubectl -n databases logs job/late-cnpg-1-full-recovery"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        kube.get("Cluster", "databases", "late-cnpg").unwrap()["status"]["phase"],
        "Setting up primary",
        "CNPG reports nothing in the Cluster's status"
    );
}
