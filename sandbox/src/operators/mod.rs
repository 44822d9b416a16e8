//! The operators of the sandbox: the real CloudNativePG operator and its barman-cloud plugin
//! (installed from their release manifests, run by the node agent), and the simulated Argo CD
//! application controller (API client of the real control plane; it cannot be built here).
pub mod argocd;
pub mod barman_plugin;
pub mod cnpg_real;

use std::sync::Arc;

use crate::cluster::Cluster;

/// Runs `pass` after every change to one of `plurals` (all resources when empty) and at least
/// every `resync`, until the store closes: the loop every simple controller here shares.
pub fn on_changes(
    api: Arc<Cluster>,
    plurals: &'static [&'static str],
    resync: std::time::Duration,
    mut pass: impl FnMut(&Arc<Cluster>) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    use tokio::sync::broadcast::error::RecvError;
    let mut changes = api.subscribe();
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
