//! `bootstrap.initdb` on a real server: initdb, start, the owner role and application database,
//! and the post-init SQL lists, in CNPG's order. Redone from scratch if it was interrupted.
use super::cluster::ClusterView;
use super::credentials::Credentials;
use super::error::CnpgError;
use crate::world::postgres::{quote_ident, quote_literal};
use crate::world::{Instance, WorldError};

/// Marker written in the instance dir once the bootstrap completed.
const DONE: &str = "bootstrapped";

pub fn is_done(inst: &Instance) -> bool {
    inst.pg.dir.join(DONE).exists()
}

/// Runs the whole bootstrap; any earlier partial attempt is wiped first.
pub async fn run(c: &ClusterView, inst: &Instance, app: &Credentials) -> Result<(), CnpgError> {
    let pg = &inst.pg;
    pg.stop().await?;
    match std::fs::remove_dir_all(&pg.data) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(WorldError::io(&pg.what, &pg.data, e).into());
        }
        _ => {}
    }
    pg.initdb(&c.init).await?;
    pg.start("", &[]).await?;
    for sql in &c.post_init_sql {
        pg.psql("postgres", sql).await?;
    }
    for sql in &c.post_init_template_sql {
        pg.psql("template1", sql).await?;
    }
    let owner = quote_ident(&c.owner);
    let create = format!(
        "SET log_statement = 'none';\nCREATE ROLE {owner} LOGIN PASSWORD {};\nCREATE DATABASE {} OWNER {owner};\n",
        quote_literal(&app.password),
        quote_ident(&c.database),
    );
    pg.psql("postgres", &create).await?;
    for sql in &c.post_init_app_sql {
        pg.psql(&c.database, sql).await?;
    }
    mark_done(inst)
}

/// Records that the bootstrap completed (it is not redone on restart).
pub fn mark_done(inst: &Instance) -> Result<(), CnpgError> {
    let marker = inst.pg.dir.join(DONE);
    std::fs::write(&marker, b"").map_err(|e| WorldError::io(&inst.pg.what, &marker, e))?;
    Ok(())
}

/// The server's system identifier (what CNPG reports as `status.systemID`).
pub async fn system_id(inst: &Instance) -> Result<String, CnpgError> {
    let out = inst
        .pg
        .psql(
            "postgres",
            "SELECT system_identifier FROM pg_control_system();",
        )
        .await?;
    Ok(out.trim().to_string())
}
