//! A Cluster CloudNativePG's validating webhook refuses (a recovery with two targets): cnpgops
//! reports the webhook's own message unchanged, through the apiserver's `denied the request`,
//! and nothing is created.

use crate::harness::World;
use crate::sandbox::Kube;

const RUNBOOK: &str = r#"
name: bad-cluster
summary: apply a Cluster the webhook refuses
steps:
  - id: apply
    uses: kube.apply
    with:
      manifest:
        apiVersion: postgresql.cnpg.io/v1
        kind: Cluster
        metadata: {name: bad, namespace: databases}
        spec:
          instances: 1
          storage: {size: 1Gi}
          bootstrap:
            recovery:
              source: origin
              recoveryTarget: {targetTime: "2026-01-01 00:00:00+00", targetLSN: "0/3000000"}
          externalClusters:
            - name: origin
              barmanObjectStore:
                destinationPath: "s3://backups/"
                s3Credentials: {inheritFromIAMRole: true}
"#;

#[test]
fn a_cluster_the_webhook_refuses_is_reported_in_its_own_words() {
    let (w, kube) = (World::new(), Kube::start());
    kube.namespace("databases");
    let file = w.path("bad-cluster.yaml");
    std::fs::write(&file, RUNBOOK).unwrap();
    let ran = kube.run(&w, &["run", file.to_str().unwrap()]);
    ran.code(4);
    ran.says(&[
        "failed to apply Cluster databases/bad",
        "denied the request",
        // CloudNativePG's webhook, in its own words (the CRD's CEL rules say nothing of it).
        "Recovery target options are mutually exclusive",
    ]);
    assert!(
        kube.get("Cluster", "databases", "bad").is_none(),
        "nothing created"
    );
}
