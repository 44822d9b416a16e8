//! The one place that names Kubernetes kinds: CNPG, barman-cloud, Argo CD and the core kinds
//! runbooks use, so `kind: Cluster` needs no `apiVersion`. Other kinds are found by discovery.

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{self, Scope};
use kube::Api;

use super::client::Kube;
use super::error::{K8sError, ObjectRef};

/// A kind this module knows without asking the server.
struct Known {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
}

const fn k(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Known {
    Known {
        group,
        version,
        kind,
        plural,
        namespaced,
    }
}

/// CloudNativePG, barman-cloud plugin, Argo CD, then core kinds.
const KNOWN: &[Known] = &[
    k("postgresql.cnpg.io", "v1", "Cluster", "clusters", true),
    k("postgresql.cnpg.io", "v1", "Backup", "backups", true),
    k(
        "postgresql.cnpg.io",
        "v1",
        "ScheduledBackup",
        "scheduledbackups",
        true,
    ),
    k("postgresql.cnpg.io", "v1", "Database", "databases", true),
    k("postgresql.cnpg.io", "v1", "Pooler", "poolers", true),
    k(
        "barmancloud.cnpg.io",
        "v1",
        "ObjectStore",
        "objectstores",
        true,
    ),
    k(
        "argoproj.io",
        "v1alpha1",
        "Application",
        "applications",
        true,
    ),
    k("", "v1", "ConfigMap", "configmaps", true),
    k("", "v1", "Secret", "secrets", true),
    k("", "v1", "Event", "events", true),
    k("", "v1", "Service", "services", true),
    k("", "v1", "Pod", "pods", true),
    k(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    ),
    k("", "v1", "Namespace", "namespaces", false),
    k("apps", "v1", "Deployment", "deployments", true),
    k("apps", "v1", "StatefulSet", "statefulsets", true),
    k("batch", "v1", "Job", "jobs", true),
    k("batch", "v1", "CronJob", "cronjobs", true),
    k("coordination.k8s.io", "v1", "Lease", "leases", true),
];

/// A resolved kind: how to reach it and whether it lives in a namespace.
#[derive(Debug, Clone)]
pub struct Kind {
    /// Group, version, kind and plural, as kube's dynamic API wants them.
    pub resource: ApiResource,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

impl Kind {
    /// The Api for objects of this kind in `namespace` (ignored for cluster-scoped kinds).
    pub fn api(&self, kube: &Kube, namespace: &str) -> Api<DynamicObject> {
        if self.namespaced {
            Api::namespaced_with(kube.client.clone(), namespace, &self.resource)
        } else {
            Api::all_with(kube.client.clone(), &self.resource)
        }
    }

    /// `name` of this kind in `namespace`, for messages.
    pub fn object(&self, namespace: &str, name: &str) -> ObjectRef {
        let ns = self.namespaced.then_some(namespace);
        ObjectRef::new(&self.resource.kind, ns, name)
    }
}

/// CloudNativePG `Cluster`.
pub fn cnpg_cluster() -> ApiResource {
    known("Cluster", Some("postgresql.cnpg.io/v1"))
        .map(|k| k.resource)
        .unwrap_or_else(|| unreachable!("listed"))
}

/// A kind from the list, by `kind` and optionally `apiVersion`.
pub fn known(kind: &str, api_version: Option<&str>) -> Option<Kind> {
    KNOWN
        .iter()
        .find(|k| k.kind == kind && api_version.is_none_or(|v| v == api_version_of(k)))
        .map(|k| Kind {
            resource: ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(k.group, k.version, k.kind),
                k.plural,
            ),
            namespaced: k.namespaced,
        })
}

fn api_version_of(k: &Known) -> String {
    if k.group.is_empty() {
        k.version.to_string()
    } else {
        format!("{}/{}", k.group, k.version)
    }
}

/// A listed kind, or one found by discovery (`apiVersion` is then required).
pub async fn resolve(kube: &Kube, api_version: Option<&str>, kind: &str) -> Result<Kind, K8sError> {
    if let Some(found) = known(kind, api_version) {
        return Ok(found);
    }
    let unknown = || K8sError::UnknownKind {
        api_version: api_version.unwrap_or("(no apiVersion given)").into(),
        kind: kind.into(),
    };
    let api_version = api_version.ok_or_else(unknown)?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps) = discovery::pinned_kind(&kube.client, &gvk)
        .await
        .map_err(|_| unknown())?;
    Ok(Kind {
        resource,
        namespaced: caps.scope == Scope::Namespaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_kinds_resolve_without_api_version() {
        let c = known("Cluster", None).unwrap();
        assert_eq!(c.resource.api_version, "postgresql.cnpg.io/v1");
        assert_eq!(c.resource.plural, "clusters");
        assert!(c.namespaced);
        assert_eq!(
            known("Deployment", Some("apps/v1"))
                .unwrap()
                .resource
                .plural,
            "deployments"
        );
        assert_eq!(known("ConfigMap", Some("v1")).unwrap().resource.group, "");
        assert!(!known("Namespace", None).unwrap().namespaced);
        assert!(known("Deployment", Some("apps/v2")).is_none());
        assert_eq!(cnpg_cluster().kind, "Cluster");
        assert_eq!(
            known("ObjectStore", None).unwrap().resource.group,
            "barmancloud.cnpg.io"
        );
        assert_eq!(
            known("Application", None).unwrap().resource.version,
            "v1alpha1"
        );
    }
}
