//! The instance's server: created, bootstrapped (after the empty-archive check when it will
//! archive), running with the archive settings in force, and what its archiver reports.
use super::cluster::ClusterView;
use super::credentials::Credentials;
use super::error::CnpgError;
use super::store::{archive_settings, Store};
use super::Ctx;
use super::{bootstrap, recovery};
use crate::world::{Instance, InstanceKey};

fn enabled(c: &ClusterView, annotation: &str) -> bool {
    c.annotations[annotation] == "enabled"
}

/// Makes the instance's server exist, bootstrapped and running as the spec says.
pub async fn ensure_server(
    ctx: &Ctx,
    c: &ClusterView,
    key: &InstanceKey,
    app: &Credentials,
    store: Option<&Store>,
) -> Result<Instance, CnpgError> {
    let inst = match ctx.world.instance(key) {
        Some(i) => i,
        None => ctx.world.create_instance(
            key,
            &c.uid,
            &format!("Cluster {} instance {}", c.id(), key.1),
        )?,
    };
    let archive = store.filter(|_| !enabled(c, "cnpg.io/skipWalArchiving"));
    if !bootstrap::is_done(&inst) && inst.pg.has_live_server() {
        // The data dir (and its bootstrap marker) vanished under a running server: never
        // bootstrap over it (that would kill the server and initdb into its path).
        return Err(CnpgError::invalid(
            &c.id(),
            "the instance's data directory vanished while its server runs",
        ));
    }
    if !bootstrap::is_done(&inst) {
        // A recovery checks in its own Job (see `recovery`).
        let check = c.recovery.is_none() && !enabled(c, "cnpg.io/skipEmptyWalArchiveCheck");
        if let Some(s) = archive.filter(|_| check) {
            s.config
                .check_empty(&ctx.world.tools, &inst.pg.what)
                .await?;
        }
        let t0 = std::time::Instant::now();
        if c.recovery.is_some() {
            recovery::run(ctx, c, &inst, archive).await?;
        } else {
            bootstrap::run(c, &inst, app).await?;
        }
        let ms = t0.elapsed().as_millis() as u64;
        tracing::info!(cluster = %c.id(), addr = %inst.pg.addr(), ms, "bootstrap done");
    }
    let (mut extra, env) = match archive {
        Some(s) => (archive_settings(ctx, s), s.config.env()),
        None => ("archive_mode = off\n".to_string(), vec![]),
    };
    extra.push_str(&parameters(c));
    let started = inst.pg.ensure_running(&extra, &env).await?;
    if started && archive.is_some() {
        // Archive the bootstrap's WAL now rather than at archive_timeout.
        inst.pg.psql("postgres", "SELECT pg_switch_wal();").await?;
    }
    Ok(inst)
}

/// `spec.postgresql.parameters` as postgresql.conf lines: as CNPG does, a change restarts
/// the server (the settings are compared on every reconcile).
fn parameters(c: &ClusterView) -> String {
    let Some(map) = c
        .spec
        .pointer("/postgresql/parameters")
        .and_then(|p| p.as_object())
    else {
        return String::new();
    };
    map.iter()
        .filter_map(|(k, v)| {
            let ok = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            Some(format!("{k} = '{}'\n", v.as_str()?.replace('\'', "''"))).filter(|_| ok)
        })
        .collect()
}

/// The server's current timeline (CNPG's `status.timelineID`).
pub async fn timeline(inst: &Instance) -> Result<Option<u64>, CnpgError> {
    let sql = "SELECT timeline_id FROM pg_control_checkpoint();";
    Ok(inst.pg.psql("postgres", sql).await?.trim().parse().ok())
}

/// What the archiver says: None before the first attempt, else (ok, message).
pub async fn archiving(inst: &Instance) -> Result<Option<(bool, String)>, CnpgError> {
    let sql = "SELECT archived_count, failed_count, \
               coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) \
               FROM pg_stat_archiver;";
    let out = inst.pg.psql("postgres", sql).await?;
    let f: Vec<&str> = out.trim().split('|').collect();
    Ok(match f.as_slice() {
        [_, _, "t"] => Some((
            false,
            "unexpected failure invoking barman-cloud-wal-archive".into(),
        )),
        [archived, _, _] if *archived != "0" => {
            Some((true, "Continuous archiving is working".into()))
        }
        _ => None,
    })
}
