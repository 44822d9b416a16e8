//! `bootstrap.recovery` from an `externalClusters` entry (in-tree `barmanObjectStore`, or the
//! barman-cloud plugin with an `ObjectStore`) or from an in-tree `Backup` object
//! (`recovery.backup.name`): the base backup picked from the source's catalog,
//! `barman-cloud-restore`, WAL replayed through `barman-cloud-wal-restore` up to the target,
//! promotion, then the application database and owner ensured (CNPG's
//! `ConfigureInstanceAfterRestore`); no init SQL (that is initdb's). While it runs the
//! recovered server archives only where the new Cluster's own spec says, or nowhere (after
//! the empty-archive check of that archive). It runs in the `<cluster>-1-full-recovery` Job ([`super::recovery_job`]). A recovery that cannot
//! succeed (archive not empty, no backup, target not reached) is not retried: its Job fails
//! with the error in its Pod's log, and the Cluster stays in "Setting up primary", as CNPG's does.
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bootstrap;
use super::cluster::ClusterView;
use super::error::CnpgError;
use super::recovery_job::RecoveryJob;
use super::recovery_target::Target;
use super::store::{archive_settings, plugin_store, resolve, Method, Store, PLUGIN};
use super::Ctx;
use crate::world::postgres::{quote_ident, quote_literal};
use crate::world::restore::Outcome;
use crate::world::{Instance, WorldError};

/// Written in the instance dir when a recovery failed for good, with the reason.
const FAILED: &str = "recovery-failed";
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(600);

/// The store the recovery reads: the `externalClusters` entry named `source`. In-tree, the
/// server name defaults to the entry's name; with the plugin, to the new Cluster's name.
pub async fn source_store(ctx: &Ctx, c: &ClusterView, source: &str) -> Result<Store, CnpgError> {
    let entry = c.spec["externalClusters"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == source))
        .ok_or_else(|| CnpgError::invalid(&c.id(), format!("missing external cluster {source}")))?;
    if let Some(cfg) = entry.get("barmanObjectStore") {
        let server = cfg["serverName"].as_str().unwrap_or(source).to_string();
        let config = resolve(ctx, c, cfg, server).await?;
        return Ok(Store {
            method: Method::InTree,
            config,
        });
    }
    match entry.get("plugin") {
        Some(p) if p["name"] == PLUGIN => plugin_store(ctx, c, &p["parameters"]).await,
        Some(p) => Err(CnpgError::invalid(
            &c.id(),
            format!("unknown plugin {} (the sandbox runs only {PLUGIN})", p["name"]),
        )),
        None => Err(CnpgError::invalid(
            &c.id(),
            format!("external cluster {source} has no barmanObjectStore and no plugin: recovery needs one"),
        )),
    }
}

/// The store and backup ID of `recovery.backup.name`: read from that Backup's status, so only
/// in-tree backups qualify (plugin backups leave `destinationPath` empty).
async fn backup_store(
    ctx: &Ctx,
    c: &ClusterView,
    name: &str,
) -> Result<(Store, String), CnpgError> {
    let b = ctx
        .api
        .get_obj(super::cluster::GROUP, "backups", &c.ns, name)
        .ok_or_else(|| CnpgError::invalid(&c.id(), format!("backup {name} not found")))?;
    let st = &b["status"];
    let (Some(id), Some(server)) = (st["backupId"].as_str(), st["serverName"].as_str()) else {
        return Err(CnpgError::invalid(
            &c.id(),
            format!("backup {name} has no backupId or serverName in its status (not a completed barmanObjectStore backup)"),
        ));
    };
    let config = resolve(ctx, c, st, server.to_string()).await?;
    let store = Store {
        method: Method::InTree,
        config,
    };
    Ok((store, id.to_string()))
}

/// The store to restore from and the backup ID it forces (with `recovery.backup`).
async fn origin(
    ctx: &Ctx,
    c: &ClusterView,
    spec: &Value,
) -> Result<(Store, Option<String>), CnpgError> {
    if let Some(name) = spec.pointer("/backup/name").and_then(Value::as_str) {
        let (store, id) = backup_store(ctx, c, name).await?;
        return Ok((store, Some(id)));
    }
    let Some(source) = spec["source"].as_str() else {
        return Err(CnpgError::invalid(
            &c.id(),
            "bootstrap.recovery needs a source or a backup (volume snapshots are not simulated)",
        ));
    };
    Ok((source_store(ctx, c, source).await?, None))
}

/// A failure that retrying cannot fix.
fn permanent(c: &ClusterView, message: impl Into<String>) -> CnpgError {
    CnpgError::Recovery {
        cluster: c.id(),
        message: message.into(),
    }
}

/// Runs the whole recovery in its Job; `own` is where the new Cluster archives (None:
/// nowhere). A permanent failure is recorded (not retried) and ends the Job's Pod in failure.
pub async fn run(
    ctx: &Ctx,
    c: &ClusterView,
    inst: &Instance,
    own: Option<&Store>,
) -> Result<(), CnpgError> {
    let failed = inst.pg.dir.join(FAILED);
    if let Ok(message) = std::fs::read_to_string(&failed) {
        return Err(permanent(c, message));
    }
    let job = RecoveryJob::start(ctx, c).await?;
    match restore(ctx, c, inst, own, &job).await {
        Ok(()) => {
            job.finish(ctx, None).await;
            bootstrap::mark_done(inst)
        }
        Err(CnpgError::Recovery { cluster, message }) => {
            job.finish(ctx, Some(&message)).await;
            std::fs::write(&failed, &message)
                .map_err(|e| WorldError::io(&inst.pg.what, &failed, e))?;
            Err(CnpgError::Recovery { cluster, message })
        }
        Err(e) => Err(e),
    }
}

/// The empty-archive check of the new Cluster's own archive (unless skipped).
async fn check_own_archive(ctx: &Ctx, c: &ClusterView, own: &Store) -> Result<(), CnpgError> {
    if c.annotations["cnpg.io/skipEmptyWalArchiveCheck"] == "enabled" {
        return Ok(());
    }
    let what = format!("Cluster {}", c.id());
    match own.config.check_empty(&ctx.world.tools, &what).await {
        Err(WorldError::Command { stderr, .. }) if stderr.contains("Expected empty archive") => {
            Err(permanent(
                c,
                format!(
                    "ERROR: WAL archive check failed for server {}: Expected empty archive",
                    own.config.server_name
                ),
            ))
        }
        other => Ok(other?),
    }
}

/// Restore, replay, promotion and the application database; logs to the Job's Pod.
async fn restore(
    ctx: &Ctx,
    c: &ClusterView,
    inst: &Instance,
    own: Option<&Store>,
    job: &RecoveryJob,
) -> Result<(), CnpgError> {
    let pg = &inst.pg;
    if let Some(s) = own {
        check_own_archive(ctx, c, s).await?;
    }
    let spec = c.recovery.clone().unwrap_or(Value::Null);
    let (store, forced) = origin(ctx, c, &spec).await?;
    let mut target =
        Target::parse(&spec["recoveryTarget"]).map_err(|m| CnpgError::invalid(&c.id(), m))?;
    target.backup_id = forced.or(target.backup_id);
    let tools = &ctx.world.tools;
    let catalog = store.config.list(tools, &pg.what).await?;
    let backup_id = match target.select(&catalog) {
        Ok(b) => b["backup_id"].as_str().unwrap_or_default().to_string(),
        Err(m) => return Err(permanent(c, m)),
    };
    let (dest, server) = (&store.config.destination_path, &store.config.server_name);
    job.log(
        ctx,
        &format!("restoring backup {backup_id} of server {server} from {dest}"),
    );
    let t0 = Instant::now();
    pg.stop().await?;
    match std::fs::remove_dir_all(&pg.data) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(WorldError::io(&pg.what, &pg.data, e).into());
        }
        _ => {}
    }
    store.config.restore(tools, pg, &backup_id).await?;
    pg.prepare_recovery()?;
    let script = pg.restore_script();
    store.config.write_restore_script(tools, &script)?;
    let mut extra = match own {
        Some(s) => archive_settings(ctx, s),
        None => "archive_mode = off\n".to_string(),
    };
    let restore = format!("{} %f %p", script.display());
    extra.push_str(&format!("restore_command = {}\n", quote_literal(&restore)));
    extra.push_str(&target.settings());
    let env = own.map(|s| s.config.env()).unwrap_or_default();
    job.log(ctx, "replaying WAL from the archive");
    let outcome = pg.recover(&extra, &env, RECOVERY_TIMEOUT).await;
    let _ = std::fs::remove_file(&script);
    if let Outcome::Failed(message) = outcome? {
        return Err(permanent(c, message));
    }
    configure_after_restore(c, inst).await?;
    // No post-init SQL here: CNPG runs it only for `bootstrap.initdb` (a recovered database
    // already has its objects).
    pg.stop().await?;
    let ms = t0.elapsed().as_millis() as u64;
    job.log(ctx, &format!("recovery done in {ms} ms: promoted"));
    tracing::info!(cluster = %c.id(), backup = %backup_id, ms, "recovery done");
    Ok(())
}

/// The application database and owner after the restore: created if missing, the database
/// handed to the owner (its password comes from the app secret, as for any cluster).
async fn configure_after_restore(c: &ClusterView, inst: &Instance) -> Result<(), CnpgError> {
    let (owner, db) = (quote_ident(&c.owner), quote_ident(&c.database));
    let role = format!(
        "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {}) THEN \
         CREATE ROLE {owner} LOGIN; END IF; END$$;",
        quote_literal(&c.owner)
    );
    inst.pg.psql("postgres", &role).await?;
    let exists = format!(
        "SELECT count(*) FROM pg_database WHERE datname = {};",
        quote_literal(&c.database)
    );
    let sql = if inst.pg.psql("postgres", &exists).await?.trim() == "0" {
        format!("CREATE DATABASE {db} OWNER {owner};")
    } else {
        format!("ALTER DATABASE {db} OWNER TO {owner};")
    };
    inst.pg.psql("postgres", &sql).await?;
    Ok(())
}
