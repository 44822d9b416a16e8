//! A Cluster whose recovery cannot succeed (a target a day past the end of the archive) never
//! becomes healthy: the real CNPG leaves it "Setting up primary" and retries its full-recovery
//! Job with backoff. `kube.wait` for `cluster_healthy` fails while CNPG still retries, with
//! CNPG's own reason, instead of waiting out its 10-minute timeout. The same for a recovery
//! into a non-empty archive (the new Cluster would archive where prod already does: CNPG's
//! `barman-cloud-check-wal-archive` refuses it).

use serde_json::json;

use crate::harness::World;
use crate::sandbox::Kube;

const RUNBOOK: &str = r#"
name: wait-recovery
summary: wait for a recovering Cluster
params:
  - name: name
    type: string
    required: true
steps:
  - id: wait
    uses: kube.wait
    with:
      kind: Cluster
      namespace: databases
      name: "{{ params.name }}"
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
        "spec": {"instances": 1, "storage": {"size": "1Gi"}, "imageName": prod["spec"]["imageName"],
            "bootstrap": {"recovery": {"source": "origin", "recoveryTarget": {"targetTime": late}}},
            "externalClusters": [{"name": "origin", "barmanObjectStore": store}]}
    });
    kube.create(&serde_json::to_string(&cluster).unwrap());

    let file = w.path("wait-recovery.yaml");
    std::fs::write(&file, RUNBOOK).unwrap();
    let t0 = std::time::Instant::now();
    let ran = kube.run(&w, &["run", file.to_str().unwrap(), "-p", "name=late-cnpg"]);
    eprintln!("reported after {:.1?}", t0.elapsed());
    ran.code(4);
    ran.says(&[
        "Cluster databases/late-cnpg will not become healthy",
        "its Job databases/late-cnpg-1-full-recovery keeps failing while CNPG retries",
        "CNPG says: restore error",
    ]);
    let job = kube
        .get("Job", "databases", "late-cnpg-1-full-recovery")
        .expect("CNPG's Job, still there");
    let conditions = job["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !conditions
            .iter()
            .any(|c| c["type"] == "Failed" && c["status"] == "True"),
        "CNPG still retries: {job:#}"
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

    // A recovery whose new Cluster would archive into prod's own, non-empty archive.
    let taken = json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "taken-cnpg", "namespace": "databases"},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}, "imageName": prod["spec"]["imageName"],
            "bootstrap": {"recovery": {"source": "origin"}},
            "backup": {"barmanObjectStore": store},
            "externalClusters": [{"name": "origin", "barmanObjectStore": store}]}
    });
    kube.create(&serde_json::to_string(&taken).unwrap());
    let t0 = std::time::Instant::now();
    let ran = kube.run(
        &w,
        &["run", file.to_str().unwrap(), "-p", "name=taken-cnpg"],
    );
    eprintln!("non-empty archive reported after {:.1?}", t0.elapsed());
    ran.code(4);
    ran.says(&[
        "Cluster databases/taken-cnpg will not become healthy",
        "its Job databases/taken-cnpg-1-full-recovery keeps failing while CNPG retries",
        "CNPG says:",
    ]);
    // CNPG checks the new Cluster's archive with barman-cloud before restoring into it
    // (`CheckWalArchiveDestination`); its reason names that check.
    assert!(
        ran.stderr.contains("barman-cloud-wal-archive"),
        "CNPG's reason names its archive check: {}",
        ran.stderr
    );
}
