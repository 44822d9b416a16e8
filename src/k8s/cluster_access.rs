//! What a Pod that connects to a CNPG Cluster needs from it: the Secret holding the CA that
//! signed the server's certificate, and the Cluster's `imagePullSecrets`.
//!
//! CNPG always creates `<cluster>-ca` (`ca.crt` and `ca.key`). With
//! `spec.certificates.serverCASecret` the server's CA is that Secret instead, and
//! `<cluster>-ca` only signs client certificates. Only `ca.crt` is ever mounted: `ca.key` lets
//! its holder mint client certificates CNPG's pg_hba trusts.

use k8s_openapi::api::core::v1::Secret;
use kube::core::DynamicObject;
use kube::Api;
use serde_json::Value;

use super::{K8sError, Kube, ObjectRef};

/// The key of a CA Secret a Pod may see.
pub(crate) const CA_CERT_KEY: &str = "ca.crt";

/// A Cluster's server CA and pull secrets, as found on the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClusterAccess {
    /// The Secret whose `ca.crt` verifies the server; `None` when it does not exist (or has no
    /// `ca.crt`): the cluster serves no TLS cnpgops can verify.
    pub server_ca: Option<String>,
    /// Why `server_ca` is `None`, for the refusal.
    pub missing_ca: String,
    /// The server CA's certificate (PEM), to verify with from here.
    pub ca_pem: Option<Vec<u8>>,
    /// `spec.imagePullSecrets[].name`.
    pub pull_secrets: Vec<String>,
}

/// The name of the Secret holding the server's CA: `spec.certificates.serverCASecret`, else
/// `<cluster>-ca`.
pub(crate) fn server_ca_secret(cluster: &Value) -> String {
    cluster
        .pointer("/spec/certificates/serverCASecret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .unwrap_or_else(|| {
            let name = cluster
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!("{name}-ca")
        })
}

/// `spec.imagePullSecrets[].name` of a Cluster.
pub(crate) fn pull_secrets(cluster: &Value) -> Vec<String> {
    cluster
        .pointer("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Reads Cluster `namespace/name` and its server CA Secret.
pub(crate) async fn read(
    kube: &Kube,
    namespace: &str,
    name: &str,
) -> Result<ClusterAccess, K8sError> {
    let object = ObjectRef::new("Cluster", Some(namespace), name);
    let clusters: Api<DynamicObject> = Api::namespaced_with(
        kube.client.clone(),
        namespace,
        &super::resources::cnpg_cluster(),
    );
    let cluster = clusters
        .get_opt(name)
        .await
        .map_err(K8sError::api("read", &object))?
        .ok_or_else(|| K8sError::NotFound {
            object: object.clone(),
        })?;
    let cluster = serde_json::to_value(&cluster).unwrap_or_default();
    let ca = server_ca_secret(&cluster);
    let secrets: Api<Secret> = Api::namespaced(kube.client.clone(), namespace);
    let ca_object = ObjectRef::new("Secret", Some(namespace), &ca);
    let found = secrets
        .get_opt(&ca)
        .await
        .map_err(K8sError::api("read", &ca_object))?;
    let ca_pem = found
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(CA_CERT_KEY))
        .map(|b| b.0.clone());
    let has_cert = ca_pem.is_some();
    let missing_ca = match (&found, has_cert) {
        (_, true) => String::new(),
        (Some(_), false) => format!("{ca_object} has no `{CA_CERT_KEY}`"),
        (None, _) => format!("{ca_object} does not exist"),
    };
    Ok(ClusterAccess {
        server_ca: has_cert.then_some(ca),
        missing_ca,
        ca_pem,
        pull_secrets: pull_secrets(&cluster),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).expect("cluster yaml")
    }

    #[test]
    fn the_server_ca_is_server_ca_secret_when_set_else_cluster_ca() {
        let plain = cluster("metadata: {name: db}\nspec: {instances: 1}\n");
        assert_eq!(server_ca_secret(&plain), "db-ca");
        let own = cluster(
            "metadata: {name: db}\nspec: {certificates: {serverCASecret: corp-ca, serverTLSSecret: db-tls}}\n",
        );
        assert_eq!(server_ca_secret(&own), "corp-ca");
        let empty = cluster("metadata: {name: db}\nspec: {certificates: {serverCASecret: ''}}\n");
        assert_eq!(server_ca_secret(&empty), "db-ca");
    }

    #[test]
    fn pull_secrets_are_the_names_listed() {
        let c = cluster(
            "metadata: {name: db}\nspec: {imagePullSecrets: [{name: regcred}, {name: mirror}]}\n",
        );
        assert_eq!(pull_secrets(&c), ["regcred", "mirror"]);
        assert!(pull_secrets(&cluster("metadata: {name: db}\n")).is_empty());
    }
}
