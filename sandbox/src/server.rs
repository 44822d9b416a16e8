//! Starting and stopping the sandbox: the HTTP listener on loopback, the controllers, and the
//! files clients read (`DIR/kubeconfig`, `DIR/state.json`).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tokio::sync::oneshot;

use crate::apiserver::{handle, ApiServer};

/// A running sandbox.
pub struct Sandbox {
    pub api: Arc<ApiServer>,
    pub url: String,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    controllers: Vec<tokio::task::JoinHandle<()>>,
    /// The real processes behind the objects (database servers, S3).
    pub world: Arc<crate::world::World>,
}

/// The kubeconfig clients use: cluster, user and context all named `sandbox`.
pub fn kubeconfig(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {url}\nusers:\n- name: sandbox\n  user: {{}}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\ncurrent-context: sandbox\npreferences: {{}}\n"
    )
}

impl Sandbox {
    /// Starts the API server on 127.0.0.1:`port` (0 picks a free port) and writes `dir`'s files.
    pub async fn start(dir: &Path, port: u16) -> anyhow::Result<Sandbox> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .with_context(|| format!("failed to listen on 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let api = ApiServer::new();
        let app = axum::Router::new().fallback(handle).with_state(api.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let mut controllers = vec![crate::controllers::spawn(api.clone())];
        controllers.extend(crate::operators::spawn_all(&api, dir));
        let world = crate::world::World::new(dir)?;
        controllers.push(crate::operators::cnpg::spawn(api.clone(), world.clone()));
        controllers.push(crate::operators::cnpg::database::spawn(
            api.clone(),
            world.clone(),
        ));
        write_atomic(&dir.join("kubeconfig"), &kubeconfig(&url))?;
        let state =
            json!({"api": url, "kubeconfig": dir.join("kubeconfig"), "pid": std::process::id()});
        write_atomic(
            &dir.join("state.json"),
            &serde_json::to_string_pretty(&state)?,
        )?;
        Ok(Sandbox {
            api,
            url,
            dir: dir.to_path_buf(),
            stop: Some(tx),
            server,
            controllers,
            world,
        })
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Stops accepting requests; open watches end when the task is dropped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.api.drop_watches();
        for c in &self.controllers {
            c.abort();
        }
        crate::operators::pods::kill_all(&self.dir);
        self.world.shutdown().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.server).await;
    }
}

fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("failed to rename to {}", path.display()))?;
    Ok(())
}
