//! `--state kubernetes`: run state in one ConfigMap per run, for CronJobs.
//!
//! `cnpgops-run-<id>` in the state namespace holds the (already redacted) run state JSON under
//! `data["state.json"]`, labelled `app.kubernetes.io/managed-by: cnpgops` and
//! `cnpgops.io/runbook`. Every update is a replace carrying the last resourceVersion this
//! process saw: a 409 means another writer changed it, and the save fails instead of
//! overwriting.
//!
//! A state over [`STATE_LIMIT`] bytes (Kubernetes refuses a ConfigMap over 1 MiB) is refused
//! before it is sent, naming its largest parts; large step results go to artifacts of their
//! own (`super::state_artifacts`), which keeps a run over a schema of thousands of tables
//! small.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::Api;
use tokio::sync::Mutex;

use super::error::status_code;
use super::state_artifacts;
use super::{Connector, MANAGED_BY, RUNBOOK_LABEL, RUN_ID_LABEL};
use crate::engine::checkpoint::is_run_id;
use crate::engine::{RunState, StateStore, StoreError};

/// The data key holding the run state.
pub(crate) const STATE_KEY: &str = "state.json";
/// The most bytes the state may have: a ConfigMap's data is limited to 1 MiB, less room for
/// the key.
pub(crate) const STATE_LIMIT: usize = 1024 * 1024 - 1024;
const COMPONENT: (&str, &str) = ("app.kubernetes.io/component", "run-state");

/// Run state in ConfigMaps of one namespace.
pub struct ConfigMapStore {
    connector: Connector,
    /// `--state-namespace`; else the client's default namespace.
    namespace: Option<String>,
    /// The resourceVersion last read or written, per run id.
    seen: Mutex<HashMap<String, String>>,
}

/// The ConfigMap's name for a run.
pub(crate) fn name(run_id: &str) -> String {
    format!("cnpgops-run-{run_id}")
}

impl ConfigMapStore {
    /// Runs kept as ConfigMaps in `namespace` (default: the context's), reached through
    /// `connector`.
    pub fn new(connector: Connector, namespace: Option<String>) -> Self {
        Self {
            connector,
            namespace,
            seen: Mutex::new(HashMap::new()),
        }
    }

    async fn api(&self) -> Result<(Api<ConfigMap>, String), StoreError> {
        let kube = self
            .connector
            .get()
            .await
            .map_err(|e| StoreError::Backend {
                action: "connect to",
                location: "Kubernetes".into(),
                source: Box::new(e),
            })?;
        let ns = self.namespace.clone().unwrap_or(kube.namespace);
        Ok((Api::namespaced(kube.client, &ns), ns))
    }

    async fn create_or_replace(
        &self,
        api: &Api<ConfigMap>,
        cm: &mut ConfigMap,
        seen: Option<String>,
    ) -> Result<ConfigMap, kube::Error> {
        let pp = PostParams::default();
        match seen {
            Some(rv) => {
                cm.metadata.resource_version = Some(rv);
                api.replace(&name_of(cm), &pp, cm).await
            }
            None => api.create(&pp, cm).await,
        }
    }
}

fn name_of(cm: &ConfigMap) -> String {
    cm.metadata.name.clone().unwrap_or_default()
}

fn location(ns: &str, run_id: &str) -> String {
    format!("ConfigMap {ns}/{}", name(run_id))
}

/// A label value: at most 63 characters of `[a-z0-9.-_]`, ending alphanumeric.
fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn config_map(state: &RunState, json: String) -> ConfigMap {
    let labels = BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        (COMPONENT.0.to_string(), COMPONENT.1.to_string()),
        (RUNBOOK_LABEL.to_string(), label_value(&state.runbook.name)),
        (RUN_ID_LABEL.to_string(), state.run_id.clone()),
    ]);
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name(&state.run_id)),
            labels: Some(labels),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(STATE_KEY.to_string(), json)])),
        ..Default::default()
    }
}

fn parse(cm: &ConfigMap, location: &str) -> Result<RunState, StoreError> {
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(STATE_KEY))
        .map(String::as_str)
        .unwrap_or("");
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt {
        path: location.into(),
        source,
    })
}

#[async_trait::async_trait]
impl StateStore for ConfigMapStore {
    async fn load(&self, run_id: &str) -> Result<RunState, StoreError> {
        let (api, ns) = self.api().await?;
        let loc = location(&ns, run_id);
        let not_found = || StoreError::NotFound {
            run_id: run_id.into(),
            location: format!("namespace {ns} (--state kubernetes)"),
        };
        if !is_run_id(run_id) {
            return Err(not_found());
        }
        let cm = api
            .get_opt(&name(run_id))
            .await
            .map_err(|e| StoreError::Backend {
                action: "read",
                location: loc.clone(),
                source: Box::new(e),
            })?;
        let cm = cm.ok_or_else(not_found)?;
        let state = parse(&cm, &loc)?;
        if let Some(rv) = cm.metadata.resource_version {
            self.seen.lock().await.insert(run_id.into(), rv);
        }
        Ok(state)
    }

    async fn save(&self, state: &RunState) -> Result<(), StoreError> {
        let (api, ns) = self.api().await?;
        let loc = location(&ns, &state.run_id);
        let json = encode(state, &loc)?;
        let mut cm = config_map(state, json);
        let mut seen = self.seen.lock().await;
        let last = seen.get(&state.run_id).cloned();
        match self.create_or_replace(&api, &mut cm, last.clone()).await {
            Ok(saved) => {
                if let Some(rv) = saved.metadata.resource_version {
                    seen.insert(state.run_id.clone(), rv);
                }
                Ok(())
            }
            Err(e) if matches!(status_code(&e), Some(409) | Some(404)) => {
                Err(StoreError::Conflict {
                    run_id: state.run_id.clone(),
                    location: loc,
                    seen: last.unwrap_or_else(|| "(none: it already existed)".into()),
                })
            }
            Err(e) => Err(StoreError::Backend {
                action: "save",
                location: loc,
                source: Box::new(e),
            }),
        }
    }

    async fn list(&self) -> Result<Vec<RunState>, StoreError> {
        let (api, ns) = self.api().await?;
        let selector = format!(
            "{}={},{}={}",
            MANAGED_BY.0, MANAGED_BY.1, COMPONENT.0, COMPONENT.1
        );
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| StoreError::Backend {
                action: "list",
                location: format!("namespace {ns}"),
                source: Box::new(e),
            })?;
        let mut runs = list
            .items
            .iter()
            .map(|cm| parse(cm, &format!("ConfigMap {ns}/{}", name_of(cm))))
            .collect::<Result<Vec<_>, _>>()?;
        runs.sort_by(|a, b| (a.created_at, &a.run_id).cmp(&(b.created_at, &b.run_id)));
        Ok(runs)
    }

    async fn save_artifact(
        &self,
        run_id: &str,
        artifact: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let (api, ns) = self.api().await?;
        let text = std::str::from_utf8(bytes).map_err(|e| {
            StoreError::Unsupported(format!("artifact `{artifact}` is not text: {e}"))
        })?;
        // The run's ConfigMap exists (a checkpoint precedes every step): its pieces belong to it.
        let run = api
            .get_opt(&name(run_id))
            .await
            .map_err(|e| StoreError::Backend {
                action: "read",
                location: location(&ns, run_id),
                source: Box::new(e),
            })?;
        let owner = run.as_ref().and_then(state_artifacts::owner);
        state_artifacts::save(&api, &ns, owner, run_id, artifact, text).await
    }

    async fn load_artifact(&self, run_id: &str, artifact: &str) -> Result<Vec<u8>, StoreError> {
        let (api, ns) = self.api().await?;
        state_artifacts::load(&api, &ns, run_id, artifact).await
    }
}

/// The state as JSON: pretty when it fits under [`STATE_LIMIT`], else compact; refused when
/// even that does not fit.
fn encode(state: &RunState, loc: &str) -> Result<String, StoreError> {
    let failed = |e: serde_json::Error| StoreError::Backend {
        action: "encode",
        location: loc.to_string(),
        source: Box::new(e),
    };
    let pretty = serde_json::to_string_pretty(state).map_err(failed)?;
    if pretty.len() <= STATE_LIMIT {
        return Ok(pretty);
    }
    let compact = serde_json::to_string(state).map_err(failed)?;
    if compact.len() <= STATE_LIMIT {
        return Ok(compact);
    }
    Err(StoreError::TooLarge {
        run_id: state.run_id.clone(),
        location: loc.to_string(),
        bytes: compact.len(),
        limit: STATE_LIMIT,
        largest: largest_parts(state),
    })
}

/// The three largest step outputs and notes, `step output (N bytes)`.
fn largest_parts(state: &RunState) -> String {
    let mut parts: Vec<(usize, String)> = state
        .steps
        .iter()
        .flat_map(|s| {
            let outputs = s.outputs.iter().map(move |(k, v)| (s, "output", k, v));
            outputs.chain(s.notes.iter().map(move |(k, v)| (s, "note", k, v)))
        })
        .map(|(s, what, k, v)| {
            let len = serde_json::to_string(v).map(|t| t.len()).unwrap_or(0);
            (len, format!("step {} {what} {k} ({len} bytes)", s.id))
        })
        .collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.0));
    let top: Vec<String> = parts.into_iter().take(3).map(|(_, t)| t).collect();
    if top.is_empty() {
        "(no step output)".into()
    } else {
        top.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("refresh-dev"), "refresh-dev");
        assert_eq!(label_value("a b/c"), "a-b-c");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
        assert_eq!(label_value("-x-"), "x");
    }
}
