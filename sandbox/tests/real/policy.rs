//! Admission as on a real cluster: PodSecurity and the CRDs' CEL rules.
use crate::harness::Cp;

#[test]
fn a_restricted_namespace_refuses_a_non_compliant_pod() {
    let cp = Cp::start();
    cp.ok(&["create", "namespace", "locked"]);
    cp.ok(&[
        "label",
        "namespace",
        "locked",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    // Pods are admitted only once the namespace has its default ServiceAccount.
    cp.eventually(
        &["-n", "locked", "get", "sa", "default", "-o", "name"],
        "serviceaccount/default",
        60,
    );
    let err = cp.refused(&[
        "-n",
        "locked",
        "run",
        "plain",
        "--image=busybox",
        "--restart=Never",
        "--",
        "true",
    ]);
    assert!(
        err.contains("violates PodSecurity \"restricted:latest\""),
        "{err}"
    );
}

#[test]
fn a_cluster_breaking_a_cel_rule_of_the_real_crd_is_refused() {
    let cp = Cp::start();
    cp.load_crds();
    let manifest = cp.dir.path().join("cluster.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: both, namespace: default}\n\
         spec:\n  instances: 1\n  imageName: ghcr.io/cloudnative-pg/postgresql:15\n\
         \x20 imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: ImageCatalog, name: pg, major: 15}\n\
         \x20 storage: {size: 1Gi}\n",
    )
    .unwrap();
    let err = cp.refused(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        err.contains("imageName and imageCatalogRef are mutually exclusive")
            || err.contains("imageCatalogRef"),
        "{err}"
    );
    assert!(
        err.contains("Invalid value") || err.contains("invalid"),
        "{err}"
    );
}
