//! The sandbox world: the real processes behind the API objects. PostgreSQL servers (one per
//! CNPG instance, each on its own loopback address at port 5432) and the S3 server (moto), all
//! under the sandbox dir, all stopped when the world shuts down or is dropped.
pub mod addresses;
pub mod barman;
pub mod error;
pub mod postgres;
pub mod reap;
pub mod restore;
pub mod s3;
pub mod s3_faults;
pub mod state;
pub mod tools;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

pub use error::{Result, WorldError};
use postgres::PgInstance;
use s3::{S3Info, S3Server};
use tools::Tools;

/// An instance as the world holds it: the server and the uid of the object it belongs to
/// (a Cluster recreated under the same name gets a fresh server).
#[derive(Clone)]
pub struct Instance {
    pub owner_uid: String,
    pub pg: Arc<PgInstance>,
}

/// `(namespace, instance name)`, e.g. `("databases", "synestra-io-cnpg-1")`.
pub type InstanceKey = (String, String);

pub struct World {
    pub dir: PathBuf,
    pub tools: Arc<Tools>,
    instances: Mutex<BTreeMap<InstanceKey, Instance>>,
    s3: tokio::sync::Mutex<Option<S3Server>>,
    s3_faults: Arc<s3_faults::S3Faults>,
}

impl World {
    /// A world under `dir` (the sandbox dir). Nothing starts until asked for.
    pub fn new(dir: &Path) -> Result<Arc<World>> {
        let tools = Arc::new(Tools::discover());
        if tools.run_as.is_some() {
            // The postgres OS user must traverse the sandbox dir to reach its data dirs.
            let meta = std::fs::metadata(dir).map_err(|e| WorldError::io("sandbox dir", dir, e))?;
            let mode = meta.mode() | 0o011;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| WorldError::io("sandbox dir", dir, e))?;
        }
        Ok(Arc::new(World {
            dir: dir.to_path_buf(),
            tools,
            instances: Mutex::new(BTreeMap::new()),
            s3: tokio::sync::Mutex::new(None),
            s3_faults: Arc::default(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<InstanceKey, Instance>> {
        self.instances.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn instance(&self, key: &InstanceKey) -> Option<Instance> {
        self.lock().get(key).cloned()
    }

    /// Every instance, for resyncs.
    pub fn instances(&self) -> Vec<(InstanceKey, Instance)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Leases an address and prepares `DIR/pg/<ns>/<name>` for a new server.
    pub fn create_instance(
        &self,
        key: &InstanceKey,
        owner_uid: &str,
        what: &str,
    ) -> Result<Instance> {
        let dir = self.dir.join("pg").join(&key.0).join(&key.1);
        check_reachable(&self.tools, &self.dir)?;
        let lease = addresses::lease()?;
        let pg = Arc::new(PgInstance::new(
            self.tools.clone(),
            what.into(),
            dir,
            lease,
        )?);
        let inst = Instance {
            owner_uid: owner_uid.into(),
            pg,
        };
        self.lock().insert(key.clone(), inst.clone());
        self.record_databases()?;
        Ok(inst)
    }

    /// Stops an instance's server and deletes its files; its address is released.
    pub async fn destroy_instance(&self, key: &InstanceKey) -> Result<()> {
        let Some(inst) = self.lock().remove(key) else {
            return Ok(());
        };
        let out = inst.pg.destroy().await;
        self.record_databases()?;
        out
    }

    /// `databases` in state.json: `"<ns>/<instance>": "ip:5432"`.
    fn record_databases(&self) -> Result<()> {
        let map: serde_json::Map<String, Value> = self
            .lock()
            .iter()
            .map(|((ns, name), i)| (format!("{ns}/{name}"), json!(i.pg.addr())))
            .collect();
        state::update(&self.dir, |s| {
            s.insert("databases".into(), Value::Object(map));
        })
    }

    /// The S3 server, started on first use; its endpoint goes to state.json (`s3`).
    pub async fn s3(&self) -> Result<S3Info> {
        let mut guard = self.s3.lock().await;
        if let Some(server) = guard.as_ref() {
            return Ok(server.info.clone());
        }
        let server = S3Server::start(&self.tools, &self.dir, self.s3_faults.clone()).await?;
        let info = server.info.clone();
        *guard = Some(server);
        state::update(&self.dir, |s| {
            s.insert(
                "s3".into(),
                json!({"endpoint": info.endpoint, "region": s3::REGION,
                       "credentialsFile": info.credentials_file}),
            );
        })?;
        Ok(info)
    }

    /// The S3 fault proxy's plan and request log (the S3 endpoint goes through it).
    pub fn s3_faults(&self) -> Arc<s3_faults::S3Faults> {
        self.s3_faults.clone()
    }

    /// Stops every server (fast shutdown) and the S3 server; leaves the data dirs.
    pub async fn shutdown(&self) {
        let all: Vec<Instance> = self.lock().values().cloned().collect();
        for inst in all {
            if let Err(e) = inst.pg.stop().await {
                tracing::warn!(error = %e, "stopping a database server");
            }
        }
        if let Some(mut server) = self.s3.lock().await.take() {
            server.stop().await;
        }
    }
}

impl Drop for World {
    /// A world dropped without `shutdown` (a panicking test) still leaves no server running.
    fn drop(&mut self) {
        for inst in self.lock().values() {
            inst.pg.stop_blocking();
        }
    }
}

/// The postgres OS user must be able to traverse every ancestor of the sandbox dir.
fn check_reachable(tools: &Tools, dir: &Path) -> Result<()> {
    let Some(user) = tools.run_as else {
        return Ok(());
    };
    for a in dir.ancestors() {
        let Ok(m) = std::fs::metadata(a) else {
            continue;
        };
        let ok = m.mode() & 0o001 != 0
            || (m.uid() == user.uid && m.mode() & 0o100 != 0)
            || (m.gid() == user.gid && m.mode() & 0o010 != 0);
        if !ok {
            return Err(WorldError::invalid(
                format!("sandbox dir {}", dir.display()),
                format!(
                    "the postgres OS user cannot enter {}: put the sandbox dir elsewhere (e.g. under /tmp)",
                    a.display()
                ),
            ));
        }
    }
    Ok(())
}
