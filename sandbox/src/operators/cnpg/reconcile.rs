//! One reconcile of one Cluster, idempotent: credentials, the server, children, status.
use serde_json::Value;

use super::children::{pod, pod_status, pvc, services};
use super::cluster::{ClusterView, GROUP};
use super::credentials::{
    app_credentials, apply_password, drop_superuser_secret, superuser_credentials,
};
use super::error::CnpgError;
use super::instance::{archiving, ensure_server, timeline};
use super::status::{desired, differs, now, Observed, Stage, PHASE_HEALTHY};
use super::store::archive_store;
use super::{bootstrap, Ctx, MANAGER};
use crate::world::{Instance, InstanceKey};

pub async fn reconcile(ctx: &Ctx, ns: &str, name: &str) -> Result<(), CnpgError> {
    let key: InstanceKey = (ns.to_string(), format!("{name}-1"));
    let obj = ctx.api.get_obj(GROUP, "clusters", ns, name);
    let Some(c) = obj.as_ref().map(ClusterView::parse).filter(|c| !c.deleting) else {
        // Deleted: its pods and PVCs go, and with them the server and its data.
        ctx.forget(ns, name);
        return Ok(ctx.world.destroy_instance(&key).await?);
    };
    if ctx
        .world
        .instance(&key)
        .is_some_and(|i| i.owner_uid != c.uid)
    {
        ctx.forget(ns, name);
        ctx.world.destroy_instance(&key).await?;
    }
    if c.status["phase"].as_str().unwrap_or_default().is_empty() {
        write_status(ctx, &c, Stage::SettingUp, &Observed::default())?;
    }
    let app = app_credentials(ctx, &c)?;
    let store = archive_store(ctx, &c).await?;
    let inst = ensure_server(ctx, &c, &key, &app, store.as_ref()).await?;
    apply_password(ctx, &c, &inst, &c.owner, Some(&app)).await?;
    let su = superuser_credentials(ctx, &c)?;
    if su.is_none() {
        drop_superuser_secret(ctx, &c)?;
    }
    apply_password(ctx, &c, &inst, "postgres", su.as_ref()).await?;
    ensure_children(ctx, &c, &inst.pg.addr())?;
    let seen = Observed {
        system_id: match c.status["systemID"].as_str() {
            Some(s) => Some(s.to_string()),
            None => Some(bootstrap::system_id(&inst).await?),
        },
        archiving: if store.is_some() {
            archiving(&inst).await?
        } else {
            None
        },
        // Asked until the cluster is healthy (it changes only when a recovery promotes).
        timeline: match c.status["timelineID"].as_u64() {
            Some(t) if c.status["phase"] == PHASE_HEALTHY => Some(t),
            _ => timeline(&inst).await?,
        },
    };
    ensure_pods(ctx, &c, &inst, &seen)?;
    write_status(ctx, &c, Stage::Healthy, &seen)
}

/// Creates `obj` unless an object of that name exists.
fn create_missing(
    ctx: &Ctx,
    c: &ClusterView,
    plural: &str,
    obj: &Value,
) -> Result<bool, CnpgError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ctx.api.get_obj("", plural, &c.ns, name).is_some() {
        return Ok(false);
    }
    match ctx.api.create_obj(obj, MANAGER) {
        Ok(_) => Ok(true),
        Err(e) if e.code == 409 => Ok(false),
        Err(e) => Err(CnpgError::api(
            &c.id(),
            format!("creating {plural} {name}"),
            e,
        )),
    }
}

fn patch_status(
    ctx: &Ctx,
    c: &ClusterView,
    plural: &str,
    name: &str,
    body: &Value,
) -> Result<(), CnpgError> {
    ctx.api
        .merge_patch("", plural, &c.ns, name, body, true, MANAGER)
        .map(|_| ())
        .map_err(|e| CnpgError::api(&c.id(), format!("writing the status of {plural} {name}"), e))
}

/// Services and PVCs (the node agent's provisioner gives each a volume; the real
/// persistentvolume-binder binds them).
fn ensure_children(ctx: &Ctx, c: &ClusterView, addr: &str) -> Result<(), CnpgError> {
    for svc in services(c, addr) {
        create_missing(ctx, c, "services", &svc)?;
    }
    for serial in 1..=c.instances {
        create_missing(ctx, c, "persistentvolumeclaims", &pvc(c, serial))?;
    }
    Ok(())
}

/// Instance pods: created, then reported running and ready. Only `-1` runs a server; the
/// others (when `instances` > 1) are reported but share its address.
fn ensure_pods(
    ctx: &Ctx,
    c: &ClusterView,
    inst: &Instance,
    seen: &Observed,
) -> Result<(), CnpgError> {
    let addr = inst.pg.addr();
    for serial in 1..=c.instances {
        let name = c.instance_name(serial);
        create_missing(ctx, c, "pods", &pod(c, serial, &addr))?;
        let running = ctx
            .api
            .get_obj("", "pods", &c.ns, &name)
            .is_some_and(|p| p.pointer("/status/phase").is_some_and(|v| v == "Running"));
        if !running {
            write_status(ctx, c, Stage::Waiting, seen)?;
            patch_status(ctx, c, "pods", &name, &pod_status(c, &addr, &now()))?;
        }
    }
    Ok(())
}

/// Writes the Cluster status for `stage` through the status subresource, if it changes.
pub fn write_status(
    ctx: &Ctx,
    c: &ClusterView,
    stage: Stage,
    seen: &Observed,
) -> Result<(), CnpgError> {
    let current = ctx
        .api
        .get_obj(GROUP, "clusters", &c.ns, &c.name)
        .map(|o| ClusterView::parse(&o))
        .unwrap_or_else(|| c.clone());
    let want = desired(&current, stage, seen);
    if !differs(&current.status, &want) {
        return Ok(());
    }
    ctx.api
        .merge_patch(
            GROUP,
            "clusters",
            &c.ns,
            &c.name,
            &serde_json::json!({"status": want}),
            true,
            MANAGER,
        )
        .map(|_| ())
        .map_err(|e| CnpgError::api(&c.id(), "writing the status", e))
}
