//! Where a Cluster archives WAL and takes backups: in-tree `spec.backup.barmanObjectStore`
//! (server name: `serverName`, else the Cluster's name) or the barman-cloud plugin
//! (`spec.plugins[]` with `isWALArchiver`, an `ObjectStore` named by `barmanObjectName`, server
//! name: the `serverName` parameter, else the Cluster's name). Credentials come from the
//! referenced Secrets; without `endpointURL` the sandbox's own S3 server is used.
use serde_json::Value;

use super::cluster::ClusterView;
use super::error::CnpgError;
use super::secrets::secret_value;
use super::Ctx;
use crate::world::barman::StoreConfig;

pub const PLUGIN: &str = "barman-cloud.cloudnative-pg.io";
pub const PLUGIN_GROUP: &str = "barmancloud.cnpg.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    InTree,
    /// The `ObjectStore` name.
    Plugin(String),
}

#[derive(Debug, Clone)]
pub struct Store {
    pub method: Method,
    pub config: StoreConfig,
}

/// The archive/backup store of the Cluster, if it has one.
pub async fn archive_store(ctx: &Ctx, c: &ClusterView) -> Result<Option<Store>, CnpgError> {
    if let Some(cfg) = c.spec.pointer("/backup/barmanObjectStore") {
        let server = cfg["serverName"].as_str().unwrap_or(&c.name).to_string();
        let config = resolve(ctx, c, cfg, server).await?;
        return Ok(Some(Store {
            method: Method::InTree,
            config,
        }));
    }
    let plugin = c.spec["plugins"].as_array().and_then(|l| {
        l.iter()
            .find(|p| p["name"] == PLUGIN && p["isWALArchiver"] == true && p["enabled"] != false)
    });
    match plugin {
        Some(p) => plugin_store(ctx, c, &p["parameters"]).await.map(Some),
        None => Ok(None),
    }
}

/// The plugin's store given its parameters (`barmanObjectName`, `serverName`).
pub async fn plugin_store(ctx: &Ctx, c: &ClusterView, params: &Value) -> Result<Store, CnpgError> {
    let Some(store_name) = params["barmanObjectName"].as_str() else {
        return Err(CnpgError::invalid(
            &c.id(),
            "the barman-cloud plugin needs parameters.barmanObjectName",
        ));
    };
    let Some(os) = ctx
        .api
        .get_obj(PLUGIN_GROUP, "objectstores", &c.ns, store_name)
    else {
        return Err(CnpgError::invalid(
            &c.id(),
            format!("ObjectStore {store_name} not found"),
        ));
    };
    let server = params["serverName"].as_str().unwrap_or(&c.name).to_string();
    let config = resolve(ctx, c, &os["spec"]["configuration"], server).await?;
    Ok(Store {
        method: Method::Plugin(store_name.to_string()),
        config,
    })
}

/// A `{name, key}` selector's value from a Secret in the Cluster's namespace.
fn selector(ctx: &Ctx, c: &ClusterView, sel: &Value) -> Result<Option<String>, CnpgError> {
    let (Some(name), Some(key)) = (sel["name"].as_str(), sel["key"].as_str()) else {
        return Ok(None);
    };
    let secret = ctx.api.get_obj("", "secrets", &c.ns, name).ok_or_else(|| {
        CnpgError::invalid(&c.id(), format!("secret {name} (S3 credentials) not found"))
    })?;
    secret_value(&secret, key)
        .map(Some)
        .ok_or_else(|| CnpgError::invalid(&c.id(), format!("secret {name} has no key {key}")))
}

pub async fn resolve(
    ctx: &Ctx,
    c: &ClusterView,
    cfg: &Value,
    server_name: String,
) -> Result<StoreConfig, CnpgError> {
    let Some(dest) = cfg["destinationPath"].as_str() else {
        return Err(CnpgError::invalid(
            &c.id(),
            "barmanObjectStore has no destinationPath",
        ));
    };
    let endpoint_url = match cfg["endpointURL"].as_str() {
        Some(e) => e.to_string(),
        None => ctx.world.s3().await?.endpoint,
    };
    let creds = &cfg["s3Credentials"];
    Ok(StoreConfig {
        destination_path: dest.to_string(),
        server_name,
        endpoint_url,
        access_key_id: selector(ctx, c, &creds["accessKeyId"])?,
        secret_access_key: selector(ctx, c, &creds["secretAccessKey"])?,
        region: selector(ctx, c, &creds["region"])?,
        session_token: selector(ctx, c, &creds["sessionToken"])?,
        wal_compression: cfg
            .pointer("/wal/compression")
            .and_then(Value::as_str)
            .map(String::from),
        data_compression: cfg
            .pointer("/data/compression")
            .and_then(Value::as_str)
            .map(String::from),
        data_jobs: cfg.pointer("/data/jobs").and_then(Value::as_u64),
        immediate_checkpoint: cfg
            .pointer("/data/immediateCheckpoint")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// postgresql.conf settings for archiving into `store` (CNPG's `archive_timeout` is 5min).
pub fn archive_settings(ctx: &Ctx, store: &Store) -> String {
    let cmd = store.config.archive_command(&ctx.world.tools);
    format!(
        "archive_mode = on\narchive_command = '{}'\narchive_timeout = '5min'\n",
        cmd.replace('\'', "''")
    )
}
