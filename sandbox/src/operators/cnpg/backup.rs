//! `Backup` objects: a base backup with the real `barman-cloud-backup` (methods
//! `barmanObjectStore` and `plugin`), Backup status as CNPG writes it, the Cluster's
//! `LastBackupSucceeded` condition, and the recoverability window (Cluster status in-tree,
//! `ObjectStore.status.serverRecoveryWindow` for the plugin). The backup runs in its own task;
//! its result comes back to the operator's loop, which writes every status.
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::cluster::{ClusterView, GROUP};
use super::error::CnpgError;
use super::status::{now, PHASE_HEALTHY};
use super::store::{archive_store, plugin_store, Method, Store, PLUGIN};
use super::{Ctx, MANAGER};
use crate::world::barman::StoreConfig;
use crate::world::{Instance, World};

/// A finished backup attempt, sent back to the loop.
pub struct Done {
    pub ns: String,
    pub name: String,
    pub cluster: String,
    pub store: Store,
    pub pod: String,
    /// The catalog entry and the whole catalog, or the error.
    pub result: Result<(Value, Vec<Value>), String>,
}

fn patch(
    ctx: &Ctx,
    group: &str,
    plural: &str,
    ns: &str,
    name: &str,
    status: Value,
) -> Result<(), CnpgError> {
    ctx.api
        .merge_patch(
            group,
            plural,
            ns,
            name,
            &json!({"status": status}),
            true,
            MANAGER,
        )
        .map(|_| ())
        .map_err(|e| {
            CnpgError::api(
                &format!("{ns}/{name}"),
                format!("writing the status of {plural} {name}"),
                e,
            )
        })
}

/// Picks up a new Backup: checks it, marks it running and launches barman-cloud-backup.
pub async fn reconcile(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    done: &mpsc::UnboundedSender<Done>,
) -> Result<(), CnpgError> {
    let Some(b) = ctx.api.get_obj(GROUP, "backups", ns, name) else {
        return Ok(());
    };
    let s = |p: &str| b.pointer(p).and_then(Value::as_str).map(String::from);
    if !s("/status/phase").unwrap_or_default().is_empty() {
        return Ok(());
    }
    // An unknown or not yet healthy cluster: CNPG retries later.
    let cluster = s("/spec/cluster/name").unwrap_or_default();
    let Some(cobj) = ctx.api.get_obj(GROUP, "clusters", ns, &cluster) else {
        return Ok(());
    };
    let c = ClusterView::parse(&cobj);
    let inst = ctx.world.instance(&(ns.to_string(), c.primary()));
    let Some(inst) = inst.filter(|_| c.status["phase"] == PHASE_HEALTHY) else {
        return Ok(());
    };
    let method = s("/spec/method").unwrap_or_else(|| "barmanObjectStore".into());
    match pick_store(ctx, &c, &b, &method).await {
        Ok(store) => launch(ctx, &c, name, &method, inst, store, done),
        Err(message) => {
            let status = json!({"phase": "failed", "error": message, "method": method});
            patch(ctx, GROUP, "backups", ns, name, status)
        }
    }
}

/// Marks the Backup running and the Cluster's last backup as started, then runs the backup
/// in its own task.
fn launch(
    ctx: &Ctx,
    c: &ClusterView,
    name: &str,
    method: &str,
    inst: Instance,
    store: Store,
    done: &mpsc::UnboundedSender<Done>,
) -> Result<(), CnpgError> {
    let status = json!({"phase": "running", "method": method,
        "reconciliationStartedAt": now(), "instanceID": {"podName": c.primary()}});
    patch(ctx, GROUP, "backups", &c.ns, name, status)?;
    set_last_backup_condition(ctx, c, false, "BackupStarted", "New Backup starting up")?;
    let (world, tx) = (ctx.world.clone(), done.clone());
    let (ns, name, cluster, pod) = (c.ns.clone(), name.to_string(), c.name.clone(), c.primary());
    tokio::spawn(async move {
        let result = take(&world, &inst, &store.config).await;
        let _ = tx.send(Done {
            ns,
            name,
            cluster,
            store,
            pod,
            result,
        });
    });
    Ok(())
}

/// The store a Backup of `method` uses, or why it cannot run (CNPG's wording where known).
async fn pick_store(ctx: &Ctx, c: &ClusterView, b: &Value, method: &str) -> Result<Store, String> {
    match method {
        "barmanObjectStore" => match archive_store(ctx, c).await.map_err(|e| e.to_string())? {
            Some(s) if s.method == Method::InTree => Ok(s),
            _ => Err("cannot proceed with the backup as the cluster has no backup section".into()),
        },
        "plugin" => {
            if b.pointer("/spec/pluginConfiguration/name")
                .and_then(Value::as_str)
                != Some(PLUGIN)
            {
                return Err(format!(
                    "unknown backup plugin (the sandbox runs only {PLUGIN})"
                ));
            }
            let entry = c.spec["plugins"]
                .as_array()
                .and_then(|l| l.iter().find(|p| p["name"] == PLUGIN));
            let mut params = entry.map(|p| p["parameters"].clone()).unwrap_or(json!({}));
            if let (Some(over), Some(m)) = (
                b.pointer("/spec/pluginConfiguration/parameters")
                    .and_then(Value::as_object),
                params.as_object_mut(),
            ) {
                m.extend(over.clone());
            }
            plugin_store(ctx, c, &params)
                .await
                .map_err(|e| e.to_string())
        }
        other => Err(format!(
            "backup method {other} is not supported by the sandbox"
        )),
    }
}

/// Runs barman-cloud-backup with CNPG's name (`backup-<YYYYMMDDhhmmss>`) and reads the catalog.
async fn take(
    world: &World,
    inst: &Instance,
    cfg: &StoreConfig,
) -> Result<(Value, Vec<Value>), String> {
    let name = format!("backup-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let entry = cfg
        .backup(&world.tools, &inst.pg, &name)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = cfg
        .list(&world.tools, &inst.pg.what)
        .await
        .map_err(|e| e.to_string())?;
    Ok((entry, catalog))
}

/// Sets the Cluster's `LastBackupSucceeded` condition, keeping the others.
fn set_last_backup_condition(
    ctx: &Ctx,
    c: &ClusterView,
    ok: bool,
    reason: &str,
    message: &str,
) -> Result<(), CnpgError> {
    let Some(cur) = ctx.api.get_obj(GROUP, "clusters", &c.ns, &c.name) else {
        return Ok(());
    };
    let mut conds: Vec<Value> = cur
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds.retain(|x| x["type"] != "LastBackupSucceeded");
    conds.push(
        json!({"type": "LastBackupSucceeded", "status": if ok { "True" } else { "False" },
        "reason": reason, "message": message, "lastTransitionTime": now()}),
    );
    patch(
        ctx,
        GROUP,
        "clusters",
        &c.ns,
        &c.name,
        json!({"conditions": conds}),
    )
}

/// barman's ISO time (`2024-06-16T14:22:36.123456+00:00`) as Kubernetes writes times.
pub fn k8s_time(v: &Value) -> Value {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| {
            json!(t
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string())
        })
        .unwrap_or(Value::Null)
}

/// Applies a finished backup to the Backup, the Cluster and (plugin) the ObjectStore.
pub fn finish(ctx: &Ctx, d: Done) -> Result<(), CnpgError> {
    let Some(cobj) = ctx.api.get_obj(GROUP, "clusters", &d.ns, &d.cluster) else {
        return Ok(());
    };
    let c = ClusterView::parse(&cobj);
    match &d.result {
        Ok((entry, catalog)) => {
            patch(
                ctx,
                GROUP,
                "backups",
                &d.ns,
                &d.name,
                completed_status(&d, entry, &c),
            )?;
            set_last_backup_condition(ctx, &c, true, "LastBackupSucceeded", "")?;
            super::recovery_window::record(ctx, &c, &d.store, catalog)
        }
        Err(e) => {
            patch(
                ctx,
                GROUP,
                "backups",
                &d.ns,
                &d.name,
                json!({"phase": "failed", "error": e,
                "reconciliationTerminatedAt": now()}),
            )?;
            set_last_backup_condition(ctx, &c, false, "LastBackupFailed", e)?;
            if d.store.method == Method::InTree {
                patch(
                    ctx,
                    GROUP,
                    "clusters",
                    &d.ns,
                    &d.cluster,
                    json!({"lastFailedBackup": now()}),
                )?;
            }
            Ok(())
        }
    }
}

fn completed_status(d: &Done, e: &Value, c: &ClusterView) -> Value {
    let mut s = json!({
        "phase": "completed", "backupId": e["backup_id"], "backupName": e["backup_name"],
        "startedAt": k8s_time(&e["begin_time_iso"]), "stoppedAt": k8s_time(&e["end_time_iso"]),
        "beginWal": e["begin_wal"], "endWal": e["end_wal"], "beginLSN": e["begin_xlog"], "endLSN": e["end_xlog"],
        "majorVersion": e["version"].as_u64().map(|v| v / 10000), "online": true,
        "method": if d.store.method == Method::InTree { "barmanObjectStore" } else { "plugin" },
        "instanceID": {"podName": d.pod}, "reconciliationTerminatedAt": now(),
    });
    if d.store.method == Method::InTree {
        s["destinationPath"] = json!(d.store.config.destination_path);
        s["serverName"] = json!(d.store.config.server_name);
        s["endpointURL"] = json!(d.store.config.endpoint_url);
        // The credential selectors (not their values), as CNPG copies them.
        if let Some(creds) = c.spec.pointer("/backup/barmanObjectStore/s3Credentials") {
            s["s3Credentials"] = creds.clone();
        }
    }
    s
}
