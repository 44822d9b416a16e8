//! Each condition judged on YAML objects: ok, pending, missing (and never where it applies).

use super::*;

fn obj(yaml: &str) -> DynamicObject {
    serde_saphyr::from_str(yaml).expect("object yaml")
}

fn cluster(phase: &str) -> DynamicObject {
    obj(&format!(
        "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {{name: db, namespace: d, uid: u1}}\nspec: {{instances: 1}}\nstatus: {{phase: '{phase}'}}\n"
    ))
}

fn job(conditions: &str) -> DynamicObject {
    obj(&format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: j, namespace: d, uid: u1}}\nstatus:\n  conditions: {conditions}\n"
    ))
}

/// Whether a wait would stop on this verdict (it holds, or never will).
fn settled(check: Check) -> bool {
    !matches!(check, Check::Pending(_))
}

const COMPLETE: &str = "[{type: Complete, status: 'True'}]";
const FAILED: &str = "[{type: Failed, status: 'True', message: BackoffLimitExceeded}]";

#[test]
fn cluster_healthy() {
    let c = Condition::parse("cluster_healthy").unwrap();
    assert_eq!(
        c.check(Some(&cluster("Cluster in healthy state")), None),
        Check::Ok
    );
    let pending = c.check(Some(&cluster("Setting up primary")), None);
    assert_eq!(pending, Check::Pending("phase `Setting up primary`".into()));
    assert!(!settled(
        c.check(Some(&cluster("Setting up primary")), None)
    ));
    let bare = obj("apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: db}\n");
    assert!(matches!(c.check(Some(&bare), None), Check::Pending(_)));
    assert_eq!(c.check(None, None), Check::Pending("not found".into()));
    let lost = obj("apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: db}\nstatus: {phase: Cluster is unrecoverable and needs manual intervention, phaseReason: 'bootstrap job db-1-full-recovery failed'}\n");
    assert_eq!(
        c.check(Some(&lost), None),
        Check::Never("CNPG says it is unrecoverable and needs manual intervention: bootstrap job db-1-full-recovery failed".into())
    );
    assert!(settled(c.check(Some(&lost), None)));
}

#[test]
fn job_complete() {
    let c = Condition::parse("job_complete").unwrap();
    assert_eq!(c.check(Some(&job(COMPLETE)), None), Check::Ok);
    assert!(matches!(c.check(Some(&job("[]")), None), Check::Pending(_)));
    let never = c.check(Some(&job(FAILED)), None);
    assert_eq!(
        never,
        Check::Never("the Job failed: BackoffLimitExceeded".into())
    );
    assert!(settled(c.check(Some(&job(FAILED)), None)));
    assert!(matches!(c.check(None, None), Check::Pending(_)));
}

#[test]
fn job_failed() {
    let c = Condition::parse("job_failed").unwrap();
    assert_eq!(c.check(Some(&job(FAILED)), None), Check::Ok);
    assert!(matches!(c.check(Some(&job("[]")), None), Check::Pending(_)));
    assert!(matches!(
        c.check(Some(&job(COMPLETE)), None),
        Check::Never(_)
    ));
    assert!(matches!(c.check(None, None), Check::Pending(_)));
}

#[test]
fn deleted_waits_on_the_uid() {
    let c = Condition::parse("deleted").unwrap();
    let j = job("[]");
    assert_eq!(c.check(None, Some("u1")), Check::Ok);
    assert_eq!(
        c.check(Some(&j), Some("u1")),
        Check::Pending("exists".into())
    );
    // A new object with the same name is not the one waited on.
    assert_eq!(c.check(Some(&j), Some("other-uid")), Check::Ok);
    let dying = obj("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, uid: u1, deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [x]}\n");
    assert!(
        matches!(c.check(Some(&dying), Some("u1")), Check::Pending(m) if m.contains("finalizers"))
    );
}

#[test]
fn exists_and_available() {
    let e = Condition::parse("exists").unwrap();
    assert_eq!(e.check(Some(&job("[]")), None), Check::Ok);
    assert!(matches!(e.check(None, None), Check::Pending(_)));
    let a = Condition::parse("available").unwrap();
    let ready = obj("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nstatus: {conditions: [{type: Available, status: 'True'}]}\n");
    let not = obj("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nstatus: {conditions: [{type: Available, status: 'False', reason: MinimumReplicasUnavailable}]}\n");
    assert_eq!(a.check(Some(&ready), None), Check::Ok);
    assert_eq!(
        a.check(Some(&not), None),
        Check::Pending("Available: MinimumReplicasUnavailable".into())
    );
    assert!(matches!(a.check(None, None), Check::Pending(_)));
}

#[test]
fn unknown_names_list_the_known_ones() {
    let err = Condition::parse("healthy").unwrap_err();
    assert!(
        err.contains("cluster_healthy") && err.contains("job_complete"),
        "{err}"
    );
    assert_eq!(Condition::ClusterHealthy.name(), "cluster_healthy");
}

#[test]
fn backup_completed() {
    let c = Condition::parse("backup_completed").unwrap();
    let backup = |status: &str| {
        obj(&format!(
            "apiVersion: postgresql.cnpg.io/v1\nkind: Backup\nmetadata: {{name: b, namespace: d}}\nspec: {{cluster: {{name: db}}}}\nstatus: {status}\n"
        ))
    };
    assert_eq!(
        c.check(Some(&backup("{phase: completed}")), None),
        Check::Ok
    );
    for pending in [
        "{phase: running}",
        "{phase: started}",
        "{phase: finalizing}",
        "{}",
    ] {
        assert!(
            matches!(c.check(Some(&backup(pending)), None), Check::Pending(_)),
            "{pending}"
        );
    }
    assert_eq!(
        c.check(
            Some(&backup(
                "{phase: failed, error: 'cannot upload: AccessDenied'}"
            )),
            None
        ),
        Check::Never("phase `failed`: cannot upload: AccessDenied".into())
    );
    let wal = c.check(
        Some(&backup(
            "{phase: walArchivingFailing, error: 'WAL archiving failed'}",
        )),
        None,
    );
    assert_eq!(
        wal,
        Check::Never("phase `walArchivingFailing`: WAL archiving failed".into())
    );
    assert!(matches!(c.check(None, None), Check::Pending(_)));
}
