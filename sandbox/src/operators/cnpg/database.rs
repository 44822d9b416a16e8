//! Declarative roles (`roles.rs`) and the `Database` resource (CNPG's declarative database management): `ensure: present` creates
//! the database owned by `owner` (or hands it over), `ensure: absent` drops it; `status.applied`
//! and `status.message` report the outcome as CNPG does (e.g. a missing owner role).
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::world::postgres::{quote_ident, quote_literal};
use crate::world::World;

const MANAGER: &str = "cnpg-database-controller";

/// Runs the Database controller until the sandbox stops.
pub fn spawn(api: Arc<Cluster>, world: Arc<World>) -> tokio::task::JoinHandle<()> {
    let mut changes = api.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = changes.recv() => match got {
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    Ok(c) if c.res.plural != "databases" && c.res.plural != "clusters" => continue,
                    _ => {}
                },
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            // Roles first: a Database's owner must exist before the Database is created.
            for cluster in api.list_objs("postgresql.cnpg.io", "clusters", None) {
                if cluster.pointer("/status/phase").and_then(Value::as_str)
                    == Some("Cluster in healthy state")
                {
                    super::roles::reconcile(&api, &world, &cluster).await;
                }
            }
            for db in api.list_objs("postgresql.cnpg.io", "databases", None) {
                reconcile(&api, &world, &db).await;
            }
        }
    })
}

async fn apply(world: &World, ns: &str, spec: &Value) -> Result<(), String> {
    let cluster = spec
        .pointer("/cluster/name")
        .and_then(Value::as_str)
        .ok_or("spec.cluster.name is required")?;
    let instance = world
        .instance(&(ns.to_string(), format!("{cluster}-1")))
        .ok_or_else(|| format!("cluster {cluster} is not running"))?;
    let name = spec["name"].as_str().ok_or("spec.name is required")?;
    let pg = &instance.pg;
    let exists = pg
        .psql(
            "postgres",
            &format!(
                "SELECT 1 FROM pg_database WHERE datname = {}",
                quote_literal(name)
            ),
        )
        .await
        .map_err(|e| e.to_string())?;
    if spec["ensure"].as_str() == Some("absent") {
        if !exists.trim().is_empty() {
            pg.psql("postgres", &format!("DROP DATABASE {}", quote_ident(name)))
                .await
                .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let owner = spec["owner"].as_str().ok_or("spec.owner is required")?;
    let role = pg
        .psql(
            "postgres",
            &format!(
                "SELECT 1 FROM pg_roles WHERE rolname = {}",
                quote_literal(owner)
            ),
        )
        .await
        .map_err(|e| e.to_string())?;
    if role.trim().is_empty() {
        return Err(format!("role \"{owner}\" does not exist"));
    }
    let sql = if exists.trim().is_empty() {
        format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(name),
            quote_ident(owner)
        )
    } else {
        format!(
            "ALTER DATABASE {} OWNER TO {}",
            quote_ident(name),
            quote_ident(owner)
        )
    };
    pg.psql("postgres", &sql)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn reconcile(api: &Cluster, world: &World, db: &Value) {
    let generation = db
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    if db.pointer("/status/applied") == Some(&json!(true))
        && db.pointer("/status/observedGeneration") == Some(&generation)
    {
        return;
    }
    let ns = db["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = db["metadata"]["name"].as_str().unwrap_or_default();
    let status = match apply(world, ns, &db["spec"]).await {
        Ok(()) => json!({"applied": true, "observedGeneration": generation}),
        Err(message) => {
            json!({"applied": false, "message": message, "observedGeneration": generation})
        }
    };
    if db.get("status") != Some(&status) {
        let _ = api.merge_patch(
            "postgresql.cnpg.io",
            "databases",
            ns,
            name,
            &json!({"status": status}),
            true,
            MANAGER,
        );
    }
}
