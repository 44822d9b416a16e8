//! Controllers that make objects *do* what they do in a real cluster: the Job/Pod runner,
//! Deployments, the CNPG operator, and the Argo CD application controller.
pub mod argocd;
pub mod cnpg;
pub mod deployments;
pub mod jobs;
pub mod pods;

use std::path::Path;
use std::sync::Arc;

use crate::apiserver::ApiServer;

/// Starts every controller of the world; the handles stop them when aborted.
pub fn spawn_all(api: &Arc<ApiServer>, dir: &Path) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        pods::spawn(api.clone(), pods::RunnerConfig::new(dir.to_path_buf())),
        jobs::spawn(api.clone()),
        deployments::spawn(api.clone()),
        argocd::spawn(api.clone()),
    ]
}

/// Runs `pass` after every change to one of `plurals` (all resources when empty) and at least
/// every `resync`, until the store closes: the loop every simple controller here shares.
pub fn on_changes(
    api: Arc<ApiServer>,
    plurals: &'static [&'static str],
    resync: std::time::Duration,
    mut pass: impl FnMut(&Arc<ApiServer>) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    use tokio::sync::broadcast::error::RecvError;
    let mut changes = api.store.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = changes.recv() => match got {
                    Err(RecvError::Closed) => return,
                    Ok(c) if !plurals.is_empty() && !plurals.contains(&c.res.plural.as_str()) => continue,
                    _ => {}
                },
                _ = tokio::time::sleep(resync) => {}
            }
            pass(&api);
        }
    })
}
