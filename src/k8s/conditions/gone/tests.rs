//! `gone` judged on Pods and PVCs as YAML: ok, pending, missing, and owned by another UID.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};

use super::*;

fn pod(name: &str, owner: &str) -> Arc<Pod> {
    Arc::new(
        serde_saphyr::from_str(&format!(
            "metadata: {{name: {name}, namespace: d, ownerReferences: [{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, name: db, uid: {owner}}}]}}\n"
        ))
        .expect("pod yaml"),
    )
}

#[test]
fn ok_when_nothing_is_left() {
    assert_eq!(gone::<Pod>(&[], None), Check::Ok);
    assert_eq!(gone::<PersistentVolumeClaim>(&[], Some("u1")), Check::Ok);
}

#[test]
fn pending_names_what_is_left() {
    let pods = [pod("db-2", "u1"), pod("db-1", "u1")];
    assert_eq!(
        gone(&pods, None),
        Check::Pending("Pod d/db-1, Pod d/db-2".into())
    );
    assert_eq!(
        gone(&pods, Some("u1")),
        Check::Pending("Pod d/db-1, Pod d/db-2".into())
    );
}

#[test]
fn objects_of_another_owner_are_not_waited_for() {
    let pods = [pod("db-1", "new-uid")];
    assert_eq!(gone(&pods, Some("old-uid")), Check::Ok);
    assert!(matches!(gone(&pods, None), Check::Pending(_)));
}

fn job(uid: &str, extra: &str) -> Arc<Job> {
    Arc::new(
        serde_saphyr::from_str(&format!(
            "metadata: {{name: migrate, namespace: web, uid: {uid}{extra}}}\n"
        ))
        .expect("job yaml"),
    )
}

#[test]
fn job_gone_ok_pending_missing() {
    assert_eq!(job_gone(&[], "u1", &[]), Check::Ok, "missing: gone");
    assert_eq!(
        job_gone(&[job("u2", "")], "u1", &[]),
        Check::Ok,
        "another Job of the same name does not count"
    );
    assert_eq!(
        job_gone(&[], "u1", &[pod("migrate-x", "u1")]),
        Check::Pending("1 Pod(s) left".into())
    );
    assert_eq!(
        job_gone(
            &[job("u1", ", deletionTimestamp: '2026-01-01T00:00:00Z'")],
            "u1",
            &[]
        ),
        Check::Pending("being deleted".into())
    );
    let held = job(
        "u1",
        ", deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [argocd.argoproj.io/hook-finalizer]",
    );
    assert_eq!(
        job_gone(&[held], "u1", &[]),
        Check::Pending("held by finalizer argocd.argoproj.io/hook-finalizer".into())
    );
}
