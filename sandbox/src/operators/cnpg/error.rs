//! Errors of the simulated CNPG operator, each naming the Cluster it is about.
use crate::cluster::ApiError;
use crate::world::WorldError;

#[derive(Debug, thiserror::Error)]
pub enum CnpgError {
    #[error(transparent)]
    World(#[from] WorldError),
    #[error("Cluster {cluster}: {action}: {code} {reason}: {message}")]
    Api {
        cluster: String,
        action: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("Cluster {cluster}: {message}")]
    Invalid { cluster: String, message: String },
    /// A recovery that cannot succeed (not retried).
    #[error("Cluster {cluster}: recovery failed: {message}")]
    Recovery { cluster: String, message: String },
}

impl CnpgError {
    pub fn api(cluster: &str, action: impl Into<String>, e: ApiError) -> Self {
        CnpgError::Api {
            cluster: cluster.into(),
            action: action.into(),
            code: e.code,
            reason: e.reason,
            message: e.message,
        }
    }

    pub fn invalid(cluster: &str, message: impl Into<String>) -> Self {
        CnpgError::Invalid {
            cluster: cluster.into(),
            message: message.into(),
        }
    }
}
