//! CNPG's own view of a Cluster's backups (its `Backup` resources, the Cluster's
//! `firstRecoverabilityPoint` / `lastSuccessfulBackup`, or for the plugin the ObjectStore's
//! `status.serverRecoveryWindow[<server>]`), and where it disagrees with the object store.

use chrono::{DateTime, Utc};
use kube::api::ListParams;
use kube::core::DynamicObject;
use kube::Api;
use serde::Serialize;
use serde_json::Value;

use super::error::CatalogError;
use super::locate::Located;
use super::store::Form;
use super::BackupCatalog;
use crate::k8s::{resources, K8sError, Kube, ObjectRef};

/// Times closer than this are the same (CNPG writes seconds, barman microseconds).
const SAME_TIME_SECS: i64 = 1;

/// One `Backup` resource of the Cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BackupResource {
    pub name: String,
    pub method: String,
    pub phase: String,
    pub backup_id: Option<String>,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub error: Option<String>,
}

/// What CNPG reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct CnpgView {
    /// Where the times come from (`Cluster status`, `ObjectStore .../status...`).
    pub source: String,
    pub first_recoverability_point: Option<String>,
    pub last_successful_backup: Option<String>,
    pub backups: Vec<BackupResource>,
}

impl BackupResource {
    fn from_json(b: &Value) -> Self {
        let text = |p: &str| b.pointer(p).and_then(Value::as_str).map(String::from);
        Self {
            name: text("/metadata/name").unwrap_or_default(),
            method: text("/spec/method").unwrap_or_else(|| "barmanObjectStore".into()),
            phase: text("/status/phase").unwrap_or_default(),
            backup_id: text("/status/backupId"),
            started_at: text("/status/startedAt"),
            stopped_at: text("/status/stoppedAt"),
            error: text("/status/error"),
        }
    }
}

/// The view from objects already read (the Cluster, its ObjectStore, the namespace's Backups).
pub(crate) fn view(located: &Located, backups: &[Value]) -> CnpgView {
    let cluster = &located.cluster.name;
    let (source, times) = match (&located.spec.form, &located.object_store) {
        (Form::Plugin { object_store }, Some(os)) => {
            let server = &located.spec.layout.server;
            let w = &os["status"]["serverRecoveryWindow"][server.as_str()];
            let source =
                format!("ObjectStore {object_store} status.serverRecoveryWindow[{server}]");
            (
                source,
                (
                    w["firstRecoverabilityPoint"].clone(),
                    w["lastSuccessfulBackupTime"].clone(),
                ),
            )
        }
        _ => {
            let st = &located.object["status"];
            let times = (
                st["firstRecoverabilityPoint"].clone(),
                st["lastSuccessfulBackup"].clone(),
            );
            ("Cluster status".to_string(), times)
        }
    };
    let mut list: Vec<BackupResource> = backups
        .iter()
        .filter(|b| b.pointer("/spec/cluster/name").and_then(Value::as_str) == Some(cluster))
        .map(BackupResource::from_json)
        .collect();
    list.sort_by(|a, b| (&a.started_at, &a.name).cmp(&(&b.started_at, &b.name)));
    CnpgView {
        source,
        first_recoverability_point: times.0.as_str().map(String::from),
        last_successful_backup: times.1.as_str().map(String::from),
        backups: list,
    }
}

/// Reads the namespace's `Backup` resources and builds the view.
pub(crate) async fn read(kube: &Kube, located: &Located) -> Result<CnpgView, CatalogError> {
    let ns = located.cluster.namespace.as_deref().unwrap_or_default();
    let kind = resources::known("Backup", None).ok_or_else(|| CatalogError::Kube {
        what: "Backup".into(),
        source: Box::new(K8sError::UnknownKind {
            api_version: "postgresql.cnpg.io/v1".into(),
            kind: "Backup".into(),
        }),
    })?;
    let api: Api<DynamicObject> = kind.api(kube, ns);
    let what = ObjectRef::new("Backup", Some(ns), "*");
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(K8sError::api("list", &what))
        .map_err(CatalogError::kube(format!("the Backups in namespace {ns}")))?;
    let items: Vec<Value> = list
        .items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect();
    Ok(view(located, &items))
}

/// Every point where CNPG and the object store disagree, as sentences.
pub(crate) fn disagreements(catalog: &BackupCatalog, view: &CnpgView) -> Vec<String> {
    let mut out = Vec::new();
    for b in view.backups.iter().filter(|b| b.phase == "completed") {
        let Some(id) = &b.backup_id else { continue };
        match catalog.backups.iter().find(|c| &c.id == id) {
            None => out.push(format!(
                "Backup {} is completed with backupId {id}, but the object store has no such backup (deleted, or another store)",
                b.name
            )),
            Some(c) if !c.usable() => out.push(format!(
                "Backup {} is completed, but the object store says backup {id} is {}",
                b.name,
                c.status()
            )),
            Some(_) => {}
        }
    }
    let window = catalog.window.as_ref();
    compare_time(
        &mut out,
        &view.source,
        "firstRecoverabilityPoint",
        view.first_recoverability_point.as_deref(),
        window.map(|w| (w.earliest, format!("the end of backup {}", w.first_backup))),
    );
    compare_time(
        &mut out,
        &view.source,
        "lastSuccessfulBackup",
        view.last_successful_backup.as_deref(),
        window.map(|w| {
            (
                w.last_backup_end,
                format!("the end of backup {}", w.last_backup),
            )
        }),
    );
    out
}

fn compare_time(
    out: &mut Vec<String>,
    source: &str,
    field: &str,
    cnpg: Option<&str>,
    store: Option<(DateTime<Utc>, String)>,
) {
    let parsed = cnpg.and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    match (cnpg, parsed, store) {
        (None, _, None) => {}
        (None, _, Some((_, what))) => out.push(format!(
            "{source} has no {field}, but the object store has a usable backup ({what})"
        )),
        (Some(t), _, None) => out.push(format!(
            "{source} says {field} {t}, but the object store has no usable backup"
        )),
        (Some(t), None, Some(_)) => {
            out.push(format!("{source} {field} `{t}` is not an RFC 3339 time"))
        }
        (Some(t), Some(p), Some((at, what))) => {
            if (p.with_timezone(&Utc) - at).num_seconds().abs() > SAME_TIME_SECS {
                out.push(format!(
                    "{source} says {field} {t}, the object store {} ({what})",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
