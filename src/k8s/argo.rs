//! Argo CD `Application`s as cnpgops reads and drives them: sync / health / last operation, and
//! the sync operation `argocd app sync` makes the API server write (the top-level `operation` field, Argo CD
//! docs `user-guide/sync-kubectl.md`; reference section 10.2).

use kube::api::Patch;
use kube::core::DynamicObject;
use kube::Api;
use serde::Serialize;
use serde_json::{json, Value};

use super::error::{K8sError, ObjectRef};
use super::resources;
use super::{params, Kube};
use crate::engine::RunMode;

/// `argocd.argoproj.io/hook`: the hook phases of a resource (`Sync`, `PreSync`, ...).
pub(crate) const HOOK: &str = "argocd.argoproj.io/hook";
/// The finalizer Argo CD (v3.3+) holds a running hook with.
pub(crate) const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";
/// The `operation.info[]` entry naming the cnpgops run that started an operation.
pub(crate) const RUN_INFO: &str = "cnpgops-run";

/// One `status.operationState.syncResult.resources[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SyncedResource {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `Synced`, `SyncFailed`, `Pruned`, ...
    pub status: String,
    /// Set for hooks: `Running`, `Succeeded`, `Failed`, ...
    pub hook_phase: Option<String>,
    pub hook_type: Option<String>,
    pub message: String,
}

/// What `argocd app get` shows: sync, health and the last (or current) operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AppState {
    pub sync: String,
    pub health: String,
    pub revision: Option<String>,
    /// `status.reconciledAt`: when a refresh last compared the app with Git.
    pub reconciled_at: Option<String>,
    /// `status.operationState.syncResult.revision`: what the last operation synced.
    pub synced_revision: Option<String>,
    /// The top-level `operation` is set: requested and not finished.
    pub operation_pending: bool,
    /// `status.operationState.phase`.
    pub phase: Option<String>,
    pub message: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub initiated_by: Option<String>,
    /// The cnpgops run that started the current or last operation, if one did.
    pub run: Option<String>,
    pub resources: Vec<SyncedResource>,
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(Value::as_str).map(String::from)
}

impl AppState {
    /// Reads an Application object.
    pub(crate) fn of(app: &DynamicObject) -> Self {
        let d = &app.data;
        let pending = d.get("operation").is_some_and(|o| !o.is_null());
        let op_state = d.pointer("/status/operationState");
        let op = match (pending, op_state) {
            (true, _) => d.get("operation"),
            (false, Some(s)) => s.get("operation"),
            (false, None) => None,
        };
        let resources = d
            .pointer("/status/operationState/syncResult/resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(resource)
            .collect();
        Self {
            sync: text(d, "/status/sync/status").unwrap_or_else(|| "Unknown".into()),
            health: text(d, "/status/health/status").unwrap_or_else(|| "Unknown".into()),
            revision: text(d, "/status/sync/revision"),
            reconciled_at: text(d, "/status/reconciledAt"),
            synced_revision: text(d, "/status/operationState/syncResult/revision"),
            operation_pending: pending,
            phase: text(d, "/status/operationState/phase"),
            message: text(d, "/status/operationState/message"),
            started_at: text(d, "/status/operationState/startedAt"),
            finished_at: text(d, "/status/operationState/finishedAt"),
            initiated_by: op.and_then(initiator),
            run: op.and_then(run_of),
            resources,
        }
    }

    /// An operation is requested or running (`argocd app sync` would refuse).
    pub(crate) fn busy(&self) -> bool {
        self.operation_pending || matches!(self.phase.as_deref(), Some("Running" | "Terminating"))
    }

    /// The last operation ended (`Succeeded`, `Failed` or `Error`) and none is requested.
    pub(crate) fn completed(&self) -> bool {
        !self.operation_pending
            && matches!(
                self.phase.as_deref(),
                Some("Succeeded" | "Failed" | "Error")
            )
    }

    /// `status.sync` and `status.health` speak of the last operation's result: Argo CD writes
    /// them from a refresh after the operation ended (`controller/appcontroller.go`), so until
    /// one has compared the synced revision (`reconciledAt` not before `finishedAt`) they may
    /// still describe the state before the sync.
    pub(crate) fn refreshed_since_operation(&self) -> bool {
        let revision = match &self.synced_revision {
            Some(synced) => self.revision.as_ref() == Some(synced),
            None => true,
        };
        let after = match (&self.reconciled_at, &self.finished_at) {
            (Some(r), Some(f)) => r >= f,
            (None, Some(_)) => false,
            (_, None) => true,
        };
        revision && after
    }

    /// Hooks whose phase is `Failed` or `Error` in the last operation.
    pub(crate) fn failed_hooks(&self) -> impl Iterator<Item = &SyncedResource> {
        self.resources
            .iter()
            .filter(|r| matches!(r.hook_phase.as_deref(), Some("Failed" | "Error")))
    }

    /// One line: `OutOfSync/Degraded, last operation Failed: one or more ...`.
    pub(crate) fn summary(&self) -> String {
        let op = match (&self.phase, self.operation_pending) {
            (_, true) if self.phase.as_deref() != Some("Running") => "operation requested".into(),
            (Some(p), _) => format!(
                "last operation {p}{}",
                self.message
                    .as_ref()
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            (None, _) => "no operation yet".into(),
        };
        format!("{}/{}, {op}", self.sync, self.health)
    }
}

fn resource(r: &Value) -> SyncedResource {
    let s = |k: &str| r.get(k).and_then(Value::as_str).map(String::from);
    SyncedResource {
        kind: s("kind").unwrap_or_default(),
        namespace: s("namespace").unwrap_or_default(),
        name: s("name").unwrap_or_default(),
        status: s("status").unwrap_or_default(),
        hook_phase: s("hookPhase"),
        hook_type: s("hookType"),
        message: s("message").unwrap_or_default(),
    }
}

fn initiator(op: &Value) -> Option<String> {
    match op
        .pointer("/initiatedBy/automated")
        .and_then(Value::as_bool)
    {
        Some(true) => Some("automated sync".into()),
        _ => text(op, "/initiatedBy/username").filter(|u| !u.is_empty()),
    }
}

fn run_of(op: &Value) -> Option<String> {
    op.get("info")?
        .as_array()?
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(RUN_INFO))
        .and_then(|i| text(i, "/value"))
}

/// The `operation` `argocd app sync APP [--prune]` makes the API server write for `app`
/// (argo-cd `server/application/application.go` `Sync`), marked with the cnpgops run id:
/// `sync` = {revision (`spec.source.targetRevision`; multi-source: `revisions`), prune (only
/// when asked), syncOptions copied from `spec.syncPolicy.syncOptions`, the hook strategy,
/// resources when given}, and `retry` from `spec.syncPolicy.retry`. The controller reads
/// options only from the operation, so what is not copied here is not applied.
pub(crate) fn sync_operation(app: &Value, username: &str, prune: bool, run_id: &str) -> Value {
    let spec = app.get("spec").unwrap_or(&Value::Null);
    let mut sync = json!({"prune": prune, "syncStrategy": {"hook": {}}});
    if let Some(rev) = spec
        .pointer("/source/targetRevision")
        .filter(|v| v.is_string())
    {
        sync["revision"] = rev.clone();
    }
    if let Some(sources) = spec.get("sources").and_then(Value::as_array) {
        let revisions: Vec<Value> = sources
            .iter()
            .map(|s| s.get("targetRevision").cloned().unwrap_or(json!("")))
            .collect();
        sync["revisions"] = json!(revisions);
    }
    let options = spec.pointer("/syncPolicy/syncOptions");
    if let Some(options) = options.filter(|o| o.as_array().is_some_and(|a| !a.is_empty())) {
        sync["syncOptions"] = options.clone();
    }
    let mut op = json!({
        "sync": sync,
        "initiatedBy": {"username": username},
        "info": [{"name": RUN_INFO, "value": run_id}],
    });
    if let Some(retry) = spec.pointer("/syncPolicy/retry").filter(|r| r.is_object()) {
        op["retry"] = retry.clone();
    }
    op
}

/// `sync_operation` limited to `resources` (`argocd app sync --resource GROUP:KIND:NAME`).
pub(crate) fn with_resources(mut operation: Value, resources: &[Value]) -> Value {
    if !resources.is_empty() {
        operation["sync"]["resources"] = json!(resources);
    }
    operation
}

/// An Application, opened.
pub(crate) struct App {
    pub api: Api<DynamicObject>,
    pub object: ObjectRef,
}

impl App {
    pub(crate) fn new(kube: &Kube, namespace: &str, name: &str) -> Self {
        let kind = resources::known("Application", Some("argoproj.io/v1alpha1"))
            .unwrap_or_else(|| unreachable!("Application is listed"));
        Self {
            api: kind.api(kube, namespace),
            object: kind.object(namespace, name),
        }
    }

    /// The Application (an error naming it when it does not exist).
    pub(crate) async fn get(&self) -> Result<DynamicObject, K8sError> {
        self.api
            .get_opt(&self.object.name)
            .await
            .map_err(K8sError::api("read", &self.object))?
            .ok_or_else(|| K8sError::NotFound {
                object: self.object.clone(),
            })
    }

    /// Whether the Application exists (a missing Application CRD counts as no).
    pub(crate) async fn exists(&self) -> Result<bool, K8sError> {
        Ok(self
            .api
            .get_opt(&self.object.name)
            .await
            .map_err(K8sError::api("read", &self.object))?
            .is_some())
    }

    /// Writes `operation` on `app` as it was read (resourceVersion-checked, so a concurrent
    /// `argocd app sync` cannot be overwritten) and clears the old `status.operationState`, as
    /// Argo CD's `SetAppOperation` does. `Ok(false)`: the object changed since; read it again.
    pub(crate) async fn start(
        &self,
        app: &DynamicObject,
        operation: Value,
        mode: RunMode,
    ) -> Result<bool, K8sError> {
        let body = json!({
            "metadata": {"resourceVersion": app.metadata.resource_version},
            "operation": operation,
            "status": {"operationState": null},
        });
        match self
            .api
            .patch(&self.object.name, &params::patch(mode), &Patch::Merge(body))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if super::error::status_code(&e) == Some(409) => Ok(false),
            Err(e) => Err(K8sError::api("start a sync operation on", &self.object)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(yaml: &str) -> DynamicObject {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const FAILED: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web-x-dev, namespace: argocd}
status:
  sync: {status: OutOfSync, revision: abc}
  health: {status: Degraded}
  operationState:
    phase: Failed
    message: one or more synchronization tasks completed unsuccessfully
    operation: {initiatedBy: {username: "", automated: true}}
    syncResult:
      resources:
        - {kind: Deployment, namespace: web-x-dev, name: web, status: Synced}
        - {kind: Job, namespace: web-x-dev, name: web-migrate, status: Synced, hookType: Sync, hookPhase: Failed, message: BackoffLimitExceeded}
"#;

    #[test]
    fn a_failed_sync_is_completed_and_names_its_failed_hook() {
        let s = AppState::of(&app(FAILED));
        assert!(s.completed() && !s.busy());
        assert_eq!(s.initiated_by.as_deref(), Some("automated sync"));
        let hooks: Vec<&str> = s.failed_hooks().map(|r| r.name.as_str()).collect();
        assert_eq!(hooks, ["web-migrate"]);
        assert_eq!(
            s.summary(),
            "OutOfSync/Degraded, last operation Failed: one or more synchronization tasks completed unsuccessfully"
        );
    }

    #[test]
    fn sync_and_health_count_once_a_refresh_has_compared_the_synced_revision() {
        let mut a = app(FAILED);
        a.data["status"]["operationState"]["finishedAt"] = json!("2026-01-01T10:00:05Z");
        a.data["status"]["operationState"]["syncResult"]["revision"] = json!("abc");
        a.data["status"]["reconciledAt"] = json!("2026-01-01T10:00:01Z");
        assert!(
            !AppState::of(&a).refreshed_since_operation(),
            "reconciled before the end"
        );
        a.data["status"]["reconciledAt"] = json!("2026-01-01T10:00:06Z");
        assert!(AppState::of(&a).refreshed_since_operation());
        a.data["status"]["operationState"]["syncResult"]["revision"] = json!("def");
        assert!(
            !AppState::of(&a).refreshed_since_operation(),
            "another revision"
        );
        a.data["status"]["reconciledAt"] = Value::Null;
        a.data["status"]["operationState"]["syncResult"]["revision"] = json!("abc");
        assert!(
            !AppState::of(&a).refreshed_since_operation(),
            "never refreshed"
        );
    }

    #[test]
    fn a_requested_or_running_operation_is_busy() {
        let mut a = app(FAILED);
        a.data["operation"] = sync_operation(&a.data, "me", true, "run-1");
        let s = AppState::of(&a);
        assert!(s.busy() && !s.completed());
        assert_eq!(s.run.as_deref(), Some("run-1"));
        assert_eq!(s.initiated_by.as_deref(), Some("me"));
        let mut b = app(FAILED);
        b.data["status"]["operationState"]["phase"] = json!("Running");
        assert!(AppState::of(&b).busy());
    }

    #[test]
    fn the_operation_is_what_the_argocd_api_server_builds() {
        let spec = json!({"spec": {
        "source": {"repoURL": "https://git.example/x.git", "path": "app", "targetRevision": "main"},
        "syncPolicy": {
            "automated": {"prune": true, "selfHeal": true},
            "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
            "retry": {"limit": 3, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}}
        }}});
        let op = sync_operation(&spec, "alice", false, "r");
        assert_eq!(
            op,
            json!({
                "sync": {
                    "revision": "main",
                    "prune": false,
                    "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
                    "syncStrategy": {"hook": {}}
                },
                "retry": {"limit": 3, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
                "initiatedBy": {"username": "alice"},
                "info": [{"name": RUN_INFO, "value": "r"}]
            })
        );
        let bare = sync_operation(&json!({"spec": {}}), "bob", true, "r");
        assert_eq!(
            bare["sync"],
            json!({"prune": true, "syncStrategy": {"hook": {}}})
        );
        assert!(bare.get("retry").is_none());
        let one = with_resources(
            bare,
            &[json!({"group": "apps", "kind": "Deployment", "name": "web"})],
        );
        assert_eq!(one["sync"]["resources"][0]["kind"], "Deployment");
    }
}
