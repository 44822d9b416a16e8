//! The Application conditions judged on YAML objects: ok, pending, missing, never.

use kube::core::DynamicObject;

use super::*;

fn app(status: &str, operation: &str) -> DynamicObject {
    serde_saphyr::from_str(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: web-x-dev, namespace: argocd}}\n{operation}\nstatus: {status}\n"
    ))
    .expect("application yaml")
}

const OURS: &str = "{info: [{name: cnpgops-run, value: run-1}]}";

fn ended(phase: &str, run: &str) -> DynamicObject {
    app(
        &format!("{{sync: {{status: Synced, revision: abc}}, health: {{status: Healthy}}, reconciledAt: '2026-01-01T10:00:06Z', operationState: {{phase: {phase}, finishedAt: '2026-01-01T10:00:05Z', operation: {{info: [{{name: cnpgops-run, value: {run}}}]}}, syncResult: {{revision: abc}}}}}}"),
        "",
    )
}

#[test]
fn sync_operation_ended() {
    let c = SyncOperationEnded { run_id: "run-1" };
    assert_eq!(c.check(Some(&ended("Succeeded", "run-1"))), Check::Ok);
    assert_eq!(
        c.check(Some(&ended("Failed", "run-1"))),
        Check::Ok,
        "ended, whichever way"
    );
    let running = app(
        "{operationState: {phase: Running, operation: {info: [{name: cnpgops-run, value: run-1}]}, syncResult: {resources: [{kind: Job, name: migrate, hookPhase: Running}]}}}",
        &format!("operation: {OURS}"),
    );
    assert_eq!(
        c.check(Some(&running)),
        Check::Pending("sync operation Running; hook Job migrate: Running".into())
    );
    let requested = app(
        "{}",
        "operation: {info: [{name: cnpgops-run, value: run-2}]}",
    );
    assert_eq!(
        c.check(Some(&requested)),
        Check::Pending("sync operation requested".into())
    );
    assert!(
        matches!(c.check(Some(&ended("Succeeded", "run-2"))), Check::Never(m) if m.contains("disappeared"))
    );
    assert_eq!(
        c.check(None),
        Check::Never("the Application was deleted".into())
    );
}

#[test]
fn synced_healthy() {
    assert_eq!(
        SyncedHealthy.check(Some(&ended("Succeeded", "run-1"))),
        Check::Ok
    );
    let mut stale = ended("Succeeded", "run-1");
    stale.data["status"]["reconciledAt"] = serde_json::json!("2026-01-01T10:00:01Z");
    assert_eq!(
        SyncedHealthy.check(Some(&stale)),
        Check::Pending("waiting for Argo CD to refresh the app after the sync".into())
    );
    let mut degraded = ended("Succeeded", "run-1");
    degraded.data["status"]["health"]["status"] = serde_json::json!("Progressing");
    assert_eq!(
        SyncedHealthy.check(Some(&degraded)),
        Check::Pending("waiting for Synced/Healthy: Synced/Progressing".into())
    );
    assert!(matches!(SyncedHealthy.check(None), Check::Never(_)));
}
