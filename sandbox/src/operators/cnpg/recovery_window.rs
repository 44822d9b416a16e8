//! The recoverability window after a backup, computed as CNPG does from barman's catalog:
//! the first point is the end time of the oldest usable backup, the last successful backup the
//! end time of the newest ("usable" = has begin and end times). In-tree it goes to the Cluster
//! status; with the plugin to `ObjectStore.status.serverRecoveryWindow[<serverName>]`.
use serde_json::{json, Value};

use super::backup::k8s_time;
use super::cluster::{ClusterView, GROUP};
use super::error::CnpgError;
use super::store::{Method, Store, PLUGIN_GROUP};
use super::{Ctx, MANAGER};

/// `(first recoverability point, last successful backup)`.
pub fn window(catalog: &[Value]) -> Option<(Value, Value)> {
    let mut usable: Vec<&Value> = catalog
        .iter()
        .filter(|b| b["begin_time_iso"].is_string() && b["end_time_iso"].is_string())
        .collect();
    usable.sort_by(|a, b| a["backup_id"].as_str().cmp(&b["backup_id"].as_str()));
    let (first, last) = (usable.first()?, usable.last()?);
    Some((
        k8s_time(&first["end_time_iso"]),
        k8s_time(&last["end_time_iso"]),
    ))
}

pub fn record(
    ctx: &Ctx,
    c: &ClusterView,
    store: &Store,
    catalog: &[Value],
) -> Result<(), CnpgError> {
    let Some((first, last)) = window(catalog) else {
        return Ok(());
    };
    let (group, plural, name, status) = match &store.method {
        Method::InTree => (
            GROUP,
            "clusters",
            c.name.clone(),
            json!({
                "firstRecoverabilityPoint": first, "lastSuccessfulBackup": last,
                "firstRecoverabilityPointByMethod": {"barmanObjectStore": first},
                "lastSuccessfulBackupByMethod": {"barmanObjectStore": last},
            }),
        ),
        Method::Plugin(os) => (
            PLUGIN_GROUP,
            "objectstores",
            os.clone(),
            json!({
                "serverRecoveryWindow": {store.config.server_name.clone():
                    {"firstRecoverabilityPoint": first, "lastSuccessfulBackupTime": last}},
            }),
        ),
    };
    ctx.api
        .merge_patch(
            group,
            plural,
            &c.ns,
            &name,
            &json!({"status": status}),
            true,
            MANAGER,
        )
        .map(|_| ())
        .map_err(|e| {
            CnpgError::api(
                &c.id(),
                format!("writing the recovery window on {plural} {name}"),
                e,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_runs_from_the_oldest_end_to_the_newest_end() {
        let cat = vec![
            json!({"backup_id": "20240102T000000", "begin_time_iso": "2024-01-02T00:00:00+00:00", "end_time_iso": "2024-01-02T00:05:00+00:00"}),
            json!({"backup_id": "20240101T000000", "begin_time_iso": "2024-01-01T00:00:00+00:00", "end_time_iso": "2024-01-01T00:05:00+00:00"}),
            json!({"backup_id": "20240103T000000", "begin_time_iso": "2024-01-03T00:00:00+00:00", "end_time_iso": null}),
        ];
        let (first, last) = window(&cat).expect("window");
        assert_eq!(first, "2024-01-01T00:05:00Z");
        assert_eq!(last, "2024-01-02T00:05:00Z");
        assert!(window(&[]).is_none());
    }
}
