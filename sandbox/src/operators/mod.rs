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
