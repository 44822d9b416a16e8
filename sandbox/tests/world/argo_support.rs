//! An Argo CD world for one test: namespaces `argocd` and `web-app-dev`, the app's "Git" (a
//! ConfigMap of manifests), Application `app-dev` with a given sync policy, and helpers to sync
//! it, wait for its operation to end and read what the API holds.
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use serde_json::{json, Value};

use crate::harness::{namespace, start, World};

pub const APP_NS: &str = "web-app-dev";
pub const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";

pub const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: payload:1}]}
"#;

pub const MIGRATE: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: web-migrate
  annotations:
    argocd.argoproj.io/hook: Sync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: payload:1
        command: ["/bin/sh", "-c", "if [ \"$MODE\" = fail ]; then echo 'ERROR: migration 0042 failed' >&2; exit 1; fi; echo migrated"]
        env:
        - name: MODE
          valueFrom: {configMapKeyRef: {name: migration-mode, key: mode}}
"#;

pub const EXTRA: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n";

pub fn apps(client: &Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(client.clone(), "argocd", &ar)
}

/// A world whose Git holds `git` (key -> manifest), with `syncPolicy` (null: none) and the
/// destination namespace `dest` (created unless `create_dest` is false).
pub async fn world_with(
    git: &[(&str, &str)],
    policy: Value,
    dest: &str,
    create_dest: bool,
) -> World {
    let w = start().await;
    namespace(&w.client, "argocd").await;
    if create_dest {
        namespace(&w.client, dest).await;
        set_mode(&w.client, "ok").await;
    }
    let data: serde_json::Map<String, Value> =
        git.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let cm = json!({"metadata": {"name": "app-dev-git"}, "data": data});
    Api::<ConfigMap>::namespaced(w.client.clone(), "argocd")
        .create(&PostParams::default(), &serde_json::from_value(cm).unwrap())
        .await
        .unwrap();
    let mut spec = json!({"project": "default", "source": {"repoURL": "https://git.example/app.git", "path": "apps/app/dev", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": dest}});
    if !policy.is_null() {
        spec["syncPolicy"] = policy;
    }
    let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "app-dev", "annotations": {"sandbox.cnpgops.io/manifests": "app-dev-git"}}, "spec": spec});
    apps(&w.client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(app).unwrap(),
        )
        .await
        .unwrap();
    w
}

/// The usual world: Deployment, migration hook and ConfigMap `extra` in Git.
pub async fn world(policy: Value) -> World {
    let git = [
        ("10-deployment.yaml", DEPLOYMENT),
        ("20-migrate.yaml", MIGRATE),
        ("30-extra.yaml", EXTRA),
    ];
    world_with(&git, policy, APP_NS, true).await
}

/// Sets what the migration hook does: `ok` or `fail`.
pub async fn set_mode(client: &Client, mode: &str) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), APP_NS);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "migration-mode"}, "data": {"mode": mode}});
    cms.patch(
        "migration-mode",
        &PatchParams::apply("test").force(),
        &Patch::Apply(&cm),
    )
    .await
    .unwrap();
}

/// A merge patch of the app's Git ConfigMap (`{"data": {...}}`), then waits until a refresh
/// has seen the new revision (as Argo CD notices a commit before it syncs it).
pub async fn edit_git(client: &Client, patch: Value) {
    let old = apps(client).get("app-dev").await.unwrap().data;
    let old = old.pointer("/status/sync/revision").cloned();
    Api::<ConfigMap>::namespaced(client.clone(), "argocd")
        .patch("app-dev-git", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    app_when(client, 20, |a| {
        a.pointer("/status/sync/revision").cloned() != old
    })
    .await;
}

/// Writes `operation` (as `argocd app sync` makes the API server do) and waits for its end.
pub async fn sync_with(client: &Client, operation: Value) -> Value {
    let op = json!({"operation": operation, "status": {"operationState": null}});
    apps(client)
        .patch("app-dev", &PatchParams::default(), &Patch::Merge(op))
        .await
        .unwrap();
    finished(client).await
}

/// A manual sync with prune and the hook strategy.
pub async fn sync(client: &Client) -> Value {
    sync_with(client, json!({"initiatedBy": {"username": "tester"}, "sync": {"prune": true, "syncStrategy": {"hook": {}}}})).await
}

/// The Application once no operation is requested and the last one ended.
pub async fn finished(client: &Client) -> Value {
    app_when(client, 60, |a| {
        a.get("operation").is_none_or(Value::is_null)
            && matches!(
                a.pointer("/status/operationState/phase")
                    .and_then(Value::as_str),
                Some("Succeeded" | "Failed" | "Error")
            )
    })
    .await
}

/// The Application once `pred` holds (panics after `secs`).
pub async fn app_when(client: &Client, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let full = |a: &DynamicObject| serde_json::to_value(a).unwrap_or_default();
    let done = |a: Option<&DynamicObject>| a.is_some_and(|a| pred(&full(a)));
    let got = tokio::time::timeout(
        Duration::from_secs(secs),
        await_condition(apps(client), "app-dev", done),
    )
    .await;
    match got {
        Ok(Ok(Some(app))) => full(&app),
        _ => panic!(
            "the Application never got there in {secs}s: {:#}",
            apps(client)
                .get("app-dev")
                .await
                .map(|a| a.data)
                .unwrap_or_default()
        ),
    }
}

/// The `status.operationState.syncResult.resources` entries named `name`.
pub fn results<'a>(app: &'a Value, name: &str) -> Vec<&'a Value> {
    app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == name)
        .collect()
}

/// Whether object `name` is gone within 20 s.
pub async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for _ in 0..100 {
        if api.get_opt(name).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
