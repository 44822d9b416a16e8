//! Kubernetes errors; every variant names the object (kind namespace/name) it is about.

use std::fmt;
use std::time::Duration;

use crate::engine::StepError;

/// An object's identity for messages: `Deployment web-app-dev/app` or `Namespace databases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            kind: kind.into(),
            namespace: namespace.map(String::from),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Why a Kubernetes operation failed.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("failed to read kubeconfig {path}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("failed to load the Kubernetes configuration ({what})")]
    Config {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("failed to create the Kubernetes client")]
    Client(#[source] kube::Error),
    #[error("failed to {action} {object}")]
    Api {
        action: &'static str,
        object: ObjectRef,
        #[source]
        source: KubeCause,
    },
    #[error("failed to find {object}")]
    NotFound { object: ObjectRef },
    #[error("failed to find kind `{kind}` in `{api_version}` on the server")]
    UnknownKind { api_version: String, kind: String },
    #[error("failed to write {object}: it was changed by another writer since resourceVersion {seen}; not overwriting it")]
    Conflict { object: ObjectRef, seen: String },
    #[error("timed out after {} waiting for {object} to be {condition} (last seen: {last})", humantime::format_duration(*.after))]
    TimedOut {
        object: ObjectRef,
        condition: String,
        after: Duration,
        last: String,
    },
    #[error("{object} will never be {condition}: {reason}")]
    Unreachable {
        object: ObjectRef,
        condition: String,
        reason: String,
    },
    #[error("failed to use {object}: {message}")]
    Invalid { object: ObjectRef, message: String },
}

impl K8sError {
    /// Wraps an API error for `action` on `object`.
    pub fn api(action: &'static str, object: &ObjectRef) -> impl FnOnce(kube::Error) -> Self {
        let object = object.clone();
        move |source| K8sError::Api {
            action,
            object,
            source: KubeCause(source),
        }
    }

    /// The HTTP status code of an API error, if it is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            K8sError::Api {
                source: KubeCause(kube::Error::Api(s)),
                ..
            } => Some(s.code),
            _ => None,
        }
    }
}

/// A kube error shown as the server's message (`... (BadRequest, HTTP 400)`), not its Debug.
#[derive(Debug)]
pub struct KubeCause(pub kube::Error);

impl fmt::Display for KubeCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            kube::Error::Api(s) => write!(f, "{} ({}, HTTP {})", s.message, s.reason, s.code),
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for KubeCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            kube::Error::Api(_) => None,
            other => other.source(),
        }
    }
}

/// The HTTP status of a kube error, if the server answered with a Status.
pub(crate) fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl From<K8sError> for StepError {
    fn from(err: K8sError) -> Self {
        StepError::Failed(crate::error::chain(&err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_kind_namespace_name() {
        let o = ObjectRef::new("Deployment", Some("web"), "app");
        assert_eq!(o.to_string(), "Deployment web/app");
        let n = ObjectRef::new("Namespace", None, "databases");
        assert_eq!(
            K8sError::NotFound { object: n }.to_string(),
            "failed to find Namespace databases"
        );
    }
}
