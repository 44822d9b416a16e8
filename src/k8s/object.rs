//! The object a Kubernetes step is about, from its `apiVersion` / `kind` / `name` /
//! `namespace` inputs, and the shared input declarations.

use kube::core::DynamicObject;
use kube::Api;

use super::client::Kube;
use super::error::{K8sError, ObjectRef};
use super::resources::{self, Kind};
use crate::engine::{Inputs, StepError};
use crate::runbook::{input, InputSpec};

pub(crate) const API_VERSION: InputSpec = input(
    "apiVersion",
    false,
    "e.g. `apps/v1`; optional for CNPG, barman, Argo CD and core kinds",
);
pub(crate) const KIND: InputSpec = input("kind", true, "e.g. `Cluster`, `Deployment`");
pub(crate) const NAME: InputSpec = input("name", true, "the object's name");
pub(crate) const NAMESPACE: InputSpec = input(
    "namespace",
    false,
    "default: -n/--namespace, else the kubeconfig context's",
);

/// Which object, as written in the step's inputs.
#[derive(Debug, Clone)]
pub(crate) struct ObjectArgs {
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

/// An object's Api, resolved kind and identity.
pub(crate) struct Opened {
    pub api: Api<DynamicObject>,
    pub kind: Kind,
    pub object: ObjectRef,
}

impl ObjectArgs {
    pub(crate) fn from_inputs(inputs: &Inputs) -> Result<Self, StepError> {
        Ok(Self {
            api_version: inputs.opt_str(API_VERSION.name)?,
            kind: inputs.str(KIND.name)?,
            name: inputs.str(NAME.name)?,
            namespace: inputs.opt_str(NAMESPACE.name)?,
        })
    }

    /// `Deployment web/app`, or `Deployment app` before the namespace is known.
    pub(crate) fn describe(&self) -> String {
        ObjectRef::new(&self.kind, self.namespace.as_deref(), &self.name).to_string()
    }

    /// Resolves the kind and namespace against the server.
    pub(crate) async fn open(&self, kube: &Kube) -> Result<Opened, K8sError> {
        let kind = resources::resolve(kube, self.api_version.as_deref(), &self.kind).await?;
        let ns = self
            .namespace
            .clone()
            .unwrap_or_else(|| kube.namespace.clone());
        Ok(Opened {
            api: kind.api(kube, &ns),
            object: kind.object(&ns, &self.name),
            kind,
        })
    }
}

impl Opened {
    /// The object, or `None` when it does not exist.
    pub(crate) async fn get(&self) -> Result<Option<DynamicObject>, K8sError> {
        self.api
            .get_opt(&self.object.name)
            .await
            .map_err(K8sError::api("read", &self.object))
    }
}
