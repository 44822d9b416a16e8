//! BackupCatalog errors: each names the Cluster, ObjectStore, Secret or S3 location it is about, never
//! a secret value; [`CatalogError::is_bad_input`] decides exit code 2 versus 1.

use crate::k8s::{K8sError, ObjectRef};

/// Why the catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CatalogError {
    #[error("{cluster} has no backup configuration: neither spec.backup.barmanObjectStore nor a barman-cloud plugin entry (spec.plugins[] with parameters.barmanObjectName)")]
    NoBackupConfig { cluster: ObjectRef },
    #[error("failed to find {object}, named by {by}")]
    Missing { object: ObjectRef, by: String },
    #[error("failed to use the object store of {cluster}: {message}")]
    BadStore { cluster: ObjectRef, message: String },
    #[error("failed to read key `{key}` of {secret}: {message}")]
    BadSecret {
        secret: ObjectRef,
        key: String,
        message: String,
    },
    #[error("failed to read {what} from Kubernetes")]
    Kube {
        what: String,
        #[source]
        source: Box<K8sError>,
    },
    #[error("the S3 server at {endpoint} refused the keys from {credentials} ({code}: {message}) when listing {url}; check that Secret's keys")]
    Denied {
        endpoint: String,
        credentials: String,
        url: String,
        code: String,
        message: String,
    },
    #[error("bucket `{bucket}` does not exist at {endpoint} (destinationPath of {cluster})")]
    NoBucket {
        bucket: String,
        endpoint: String,
        cluster: String,
    },
    #[error("failed to {action} {url} at {endpoint}: {detail}")]
    S3 {
        action: &'static str,
        url: String,
        endpoint: String,
        detail: String,
    },
}

impl CatalogError {
    /// Wraps a Kubernetes error while reading `what`.
    pub(crate) fn kube(what: impl Into<String>) -> impl FnOnce(K8sError) -> Self {
        let what = what.into();
        move |source| CatalogError::Kube {
            what,
            source: Box::new(source),
        }
    }

    /// A problem with what the user pointed at (exit 2), rather than with the environment.
    pub(crate) fn is_bad_input(&self) -> bool {
        match self {
            CatalogError::NoBackupConfig { .. }
            | CatalogError::Missing { .. }
            | CatalogError::BadStore { .. }
            | CatalogError::BadSecret { .. }
            | CatalogError::Denied { .. }
            | CatalogError::NoBucket { .. } => true,
            CatalogError::Kube { source, .. } => {
                matches!(**source, K8sError::NotFound { .. }) || source.status() == Some(404)
            }
            CatalogError::S3 { .. } => false,
        }
    }
}
