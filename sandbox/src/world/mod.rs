//! The sandbox world: the servers outside Kubernetes. The S3 server (moto, behind its fault
//! proxy) under the sandbox dir, stopped when the world shuts down; the tools found on the
//! machine (PostgreSQL, barman-cloud) the node agent's Pods run. PostgreSQL itself runs in
//! CloudNativePG's instance Pods.
pub mod addresses;
pub mod error;
pub mod reap;
pub mod s3;
pub mod s3_faults;
pub mod state;
pub mod tools;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

pub use error::{Result, WorldError};
use s3::{S3Info, S3Server};
use tools::Tools;

pub struct World {
    pub dir: PathBuf,
    pub tools: Arc<Tools>,
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
            s3: tokio::sync::Mutex::new(None),
            s3_faults: Arc::default(),
        }))
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

    /// Stops the S3 server.
    pub async fn shutdown(&self) {
        if let Some(mut server) = self.s3.lock().await.take() {
            server.stop().await;
        }
    }
}
