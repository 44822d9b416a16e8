//! From a Cluster on the API server to a connected store: read the Cluster, its `ObjectStore`
//! (plugin form), and the Secrets its `s3Credentials` and `endpointCA` name. Every secret value
//! is taught to the redactor the moment it is read and kept only as a `SecretString`.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::core::DynamicObject;
use kube::Api;
use serde_json::Value;

use super::error::CatalogError;
use super::s3::{Connection, S3};
use super::store::{self, Form, SecretRef, StoreSpec};
use crate::k8s::{resources, Kube, ObjectRef};
use crate::redact::{Redactor, SecretString};

/// The region when the Secret names none (barman-cloud and moto default to it too).
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// A Cluster and the store it archives into.
pub(crate) struct Located {
    pub cluster: ObjectRef,
    /// The Cluster as JSON (spec and status).
    pub object: Value,
    /// The `ObjectStore` (plugin form) as JSON.
    pub object_store: Option<Value>,
    pub spec: StoreSpec,
}

/// Reads a listed kind's object as JSON; `None` when it does not exist.
async fn get(kube: &Kube, kind: &str, ns: &str, name: &str) -> Result<Option<Value>, CatalogError> {
    let k = resources::known(kind, None).ok_or_else(|| CatalogError::Kube {
        what: kind.into(),
        source: Box::new(crate::k8s::K8sError::UnknownKind {
            api_version: "(listed)".into(),
            kind: kind.into(),
        }),
    })?;
    let object = k.object(ns, name);
    let api: Api<DynamicObject> = k.api(kube, ns);
    let found = api
        .get_opt(name)
        .await
        .map_err(crate::k8s::K8sError::api("get", &object))
        .map_err(CatalogError::kube(object.to_string()))?;
    Ok(found.and_then(|o| serde_json::to_value(o).ok()))
}

/// Finds the Cluster `ns/name` and its store.
pub(crate) async fn locate(kube: &Kube, ns: &str, name: &str) -> Result<Located, CatalogError> {
    let cluster = ObjectRef::new("Cluster", Some(ns), name);
    let object = get(kube, "Cluster", ns, name)
        .await?
        .ok_or_else(|| CatalogError::Missing {
            object: cluster.clone(),
            by: "the app and env (naming profile)".into(),
        })?;
    let bad = |message: String| CatalogError::BadStore {
        cluster: cluster.clone(),
        message,
    };
    if let Some(cfg) = store::in_tree(&object) {
        let server = cfg["serverName"].as_str().unwrap_or(name);
        let spec = store::spec(Form::InTree, cfg, server).map_err(bad)?;
        return Ok(Located {
            cluster,
            object,
            object_store: None,
            spec,
        });
    }
    let Some(plugin) = store::plugin(&object) else {
        return Err(CatalogError::NoBackupConfig { cluster });
    };
    let os = get(kube, "ObjectStore", ns, &plugin.object_store)
        .await?
        .ok_or_else(|| CatalogError::Missing {
            object: ObjectRef::new("ObjectStore", Some(ns), &plugin.object_store),
            by: format!("{cluster} (spec.plugins[].parameters.barmanObjectName)"),
        })?;
    let server = plugin.server_name.as_deref().unwrap_or(name);
    let form = Form::Plugin {
        object_store: plugin.object_store.clone(),
    };
    let spec = store::spec(form, &os["spec"]["configuration"], server).map_err(bad)?;
    Ok(Located {
        cluster,
        object,
        object_store: Some(os),
        spec,
    })
}

/// Reads one Secret key as text (public values: region, CA bundle).
async fn read_key(kube: &Kube, ns: &str, sel: &SecretRef) -> Result<String, CatalogError> {
    let secret = ObjectRef::new("Secret", Some(ns), &sel.name);
    let bad = |message: &str| CatalogError::BadSecret {
        secret: secret.clone(),
        key: sel.key.clone(),
        message: message.into(),
    };
    let api: Api<Secret> = Api::namespaced(kube.client.clone(), ns);
    let found = api
        .get_opt(&sel.name)
        .await
        .map_err(crate::k8s::K8sError::api("get", &secret))
        .map_err(CatalogError::kube(secret.to_string()))?
        .ok_or_else(|| bad("the Secret does not exist"))?;
    let bytes = found
        .data
        .as_ref()
        .and_then(|d| d.get(&sel.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            found
                .string_data
                .as_ref()?
                .get(&sel.key)
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| bad("the Secret has no such key"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("the value is not UTF-8"))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads one secret Secret key, teaching the value to the redactor first.
async fn secret_value(
    kube: &Kube,
    ns: &str,
    sel: &SecretRef,
    redactor: &Redactor,
) -> Result<SecretString, CatalogError> {
    let text = read_key(kube, ns, sel).await?;
    redactor.learn_str(&text);
    Ok(SecretString::from(text))
}

/// Reads the credentials and opens the bucket.
pub(crate) async fn connect(
    kube: &Kube,
    located: &Located,
    redactor: &Redactor,
) -> Result<S3, CatalogError> {
    let spec = &located.spec;
    let ns = located.cluster.namespace.as_deref().unwrap_or_default();
    let (Some(id_ref), Some(secret_ref)) = (&spec.access_key_id, &spec.secret_access_key) else {
        return Err(CatalogError::BadStore {
            cluster: located.cluster.clone(),
            message: "s3Credentials.inheritFromIAMRole is not supported; give accessKeyId and secretAccessKey".into(),
        });
    };
    let public = |sel: &Option<SecretRef>| {
        let sel = sel.clone();
        async move {
            match sel {
                Some(s) => read_key(kube, ns, &s).await.map(Some),
                None => Ok(None),
            }
        }
    };
    let region = public(&spec.region).await?;
    let ca = public(&spec.endpoint_ca).await?;
    let session_token = match &spec.session_token {
        Some(s) => Some(secret_value(kube, ns, s, redactor).await?),
        None => None,
    };
    let conn = Connection {
        endpoint: spec.endpoint.clone(),
        region: region.unwrap_or_else(|| DEFAULT_REGION.into()),
        access_key_id: secret_value(kube, ns, id_ref, redactor).await?,
        secret_access_key: secret_value(kube, ns, secret_ref, redactor).await?,
        session_token,
        ca_pem: ca.map(String::into_bytes),
        credentials_from: format!("Secret {ns}/{}", secret_ref.name),
        cluster: located.cluster.clone(),
        initial_backoff: Duration::from_millis(200),
    };
    S3::new(&conn, &spec.layout.destination.bucket)
}
