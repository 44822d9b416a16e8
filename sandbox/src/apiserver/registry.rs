//! The resource types the sandbox serves: built-in Kubernetes types and the CNPG, barman-cloud
//! and Argo CD custom resources (from their real CRDs), with what discovery says about each.
use serde_json::Value;

use crate::schema::{self, CrdInfo};

/// Round-trips a body through the typed k8s-openapi struct, as the real server decodes it.
pub type Decode = fn(Value) -> Result<Value, serde_json::Error>;

/// One served resource (group + plural), and everything the server needs to know about it.
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Writes to the main resource ignore `status`; `/status` writes only change it.
    pub status_subresource: bool,
    /// `(specReplicasPath, statusReplicasPath, labelSelectorPath)` when `/scale` is served.
    pub scale: Option<(String, String, Option<String>)>,
    /// Extra subresources with their own verbs (e.g. `log` for pods).
    pub extra_subresources: Vec<(&'static str, &'static [&'static str])>,
    pub decode: Option<Decode>,
    pub crd: Option<&'static CrdInfo>,
    /// `metadata.generation` is kept (types with a spec).
    pub generation: bool,
    /// Supported field selectors beyond metadata.name / metadata.namespace.
    pub field_labels: &'static [&'static str],
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn group_version(&self) -> (&str, &str) {
        (&self.group, &self.version)
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }
}

fn decode<K: serde::de::DeserializeOwned + serde::Serialize>(
    v: Value,
) -> Result<Value, serde_json::Error> {
    let typed: K = serde_json::from_value(v)?;
    serde_json::to_value(typed)
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn verbs() -> &'static [&'static str] {
    VERBS
}

struct B {
    g: &'static str,
    v: &'static str,
    kind: &'static str,
    plural: &'static str,
    ns: bool,
    short: &'static [&'static str],
    status: bool,
    decode: Decode,
    generation: bool,
    fields: &'static [&'static str],
}

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, coordination::v1 as coord, core::v1 as core,
    rbac::v1 as rbac,
};

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

fn builtins() -> Vec<B> {
    vec![
        B {
            g: "",
            v: "v1",
            kind: "Namespace",
            plural: "namespaces",
            ns: false,
            short: &["ns"],
            status: true,
            decode: decode::<core::Namespace>,
            generation: false,
            fields: &["status.phase"],
        },
        B {
            g: "",
            v: "v1",
            kind: "Pod",
            plural: "pods",
            ns: true,
            short: &["po"],
            status: true,
            decode: decode::<core::Pod>,
            generation: true,
            fields: POD_FIELDS,
        },
        B {
            g: "",
            v: "v1",
            kind: "Secret",
            plural: "secrets",
            ns: true,
            short: &[],
            status: false,
            decode: decode::<core::Secret>,
            generation: false,
            fields: &["type"],
        },
        B {
            g: "",
            v: "v1",
            kind: "ConfigMap",
            plural: "configmaps",
            ns: true,
            short: &["cm"],
            status: false,
            decode: decode::<core::ConfigMap>,
            generation: false,
            fields: &[],
        },
        B {
            g: "",
            v: "v1",
            kind: "Service",
            plural: "services",
            ns: true,
            short: &["svc"],
            status: true,
            decode: decode::<core::Service>,
            generation: false,
            fields: &[],
        },
        B {
            g: "",
            v: "v1",
            kind: "Event",
            plural: "events",
            ns: true,
            short: &["ev"],
            status: false,
            decode: decode::<core::Event>,
            generation: false,
            fields: EVENT_FIELDS,
        },
        B {
            g: "",
            v: "v1",
            kind: "PersistentVolumeClaim",
            plural: "persistentvolumeclaims",
            ns: true,
            short: &["pvc"],
            status: true,
            decode: decode::<core::PersistentVolumeClaim>,
            generation: false,
            fields: &[],
        },
        B {
            g: "",
            v: "v1",
            kind: "ServiceAccount",
            plural: "serviceaccounts",
            ns: true,
            short: &["sa"],
            status: false,
            decode: decode::<core::ServiceAccount>,
            generation: false,
            fields: &[],
        },
        B {
            g: "apps",
            v: "v1",
            kind: "Deployment",
            plural: "deployments",
            ns: true,
            short: &["deploy"],
            status: true,
            decode: decode::<apps::Deployment>,
            generation: true,
            fields: &[],
        },
        B {
            g: "batch",
            v: "v1",
            kind: "Job",
            plural: "jobs",
            ns: true,
            short: &[],
            status: true,
            decode: decode::<batch::Job>,
            generation: true,
            fields: &["status.successful"],
        },
        B {
            g: "batch",
            v: "v1",
            kind: "CronJob",
            plural: "cronjobs",
            ns: true,
            short: &["cj"],
            status: true,
            decode: decode::<batch::CronJob>,
            generation: true,
            fields: &[],
        },
        B {
            g: "coordination.k8s.io",
            v: "v1",
            kind: "Lease",
            plural: "leases",
            ns: true,
            short: &[],
            status: false,
            decode: decode::<coord::Lease>,
            generation: false,
            fields: &[],
        },
        B {
            g: "rbac.authorization.k8s.io",
            v: "v1",
            kind: "Role",
            plural: "roles",
            ns: true,
            short: &[],
            status: false,
            decode: decode::<rbac::Role>,
            generation: false,
            fields: &[],
        },
        B {
            g: "rbac.authorization.k8s.io",
            v: "v1",
            kind: "RoleBinding",
            plural: "rolebindings",
            ns: true,
            short: &[],
            status: false,
            decode: decode::<rbac::RoleBinding>,
            generation: false,
            fields: &[],
        },
        B {
            g: "rbac.authorization.k8s.io",
            v: "v1",
            kind: "ClusterRole",
            plural: "clusterroles",
            ns: false,
            short: &[],
            status: false,
            decode: decode::<rbac::ClusterRole>,
            generation: false,
            fields: &[],
        },
        B {
            g: "rbac.authorization.k8s.io",
            v: "v1",
            kind: "ClusterRoleBinding",
            plural: "clusterrolebindings",
            ns: false,
            short: &[],
            status: false,
            decode: decode::<rbac::ClusterRoleBinding>,
            generation: false,
            fields: &[],
        },
    ]
}

/// Every resource type the server knows, built once.
pub struct Registry {
    pub types: Vec<ResourceType>,
}

impl Registry {
    pub fn new() -> Self {
        let mut types: Vec<ResourceType> = builtins()
            .into_iter()
            .map(|b| ResourceType {
                group: b.g.into(),
                version: b.v.into(),
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                namespaced: b.ns,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: if b.g == "coordination.k8s.io" || b.g.starts_with("rbac") {
                    vec![]
                } else {
                    vec!["all".into()]
                },
                status_subresource: b.status,
                scale: (b.plural == "deployments").then(|| {
                    (
                        ".spec.replicas".into(),
                        ".status.replicas".into(),
                        Some(".status.selector".into()),
                    )
                }),
                extra_subresources: match b.plural {
                    "pods" => vec![
                        ("log", &["get"][..]),
                        ("portforward", &["create", "get"][..]),
                    ],
                    "serviceaccounts" => vec![("token", &["create"][..])],
                    _ => vec![],
                },
                decode: Some(b.decode),
                crd: None,
                generation: b.generation,
                field_labels: b.fields,
            })
            .collect();
        for crd in schema::builtin_crds() {
            types.push(ResourceType {
                group: crd.group.clone(),
                version: crd.version.clone(),
                kind: crd.kind.clone(),
                plural: crd.plural.clone(),
                singular: crd.singular.clone(),
                namespaced: crd.namespaced,
                short_names: crd.short_names.clone(),
                categories: crd.categories.clone(),
                status_subresource: crd.status_subresource,
                scale: crd.scale.as_ref().map(|s| {
                    (
                        s.spec_replicas_path.clone(),
                        s.status_replicas_path.clone(),
                        s.label_selector_path.clone(),
                    )
                }),
                extra_subresources: vec![],
                decode: None,
                crd: Some(crd),
                generation: true,
                field_labels: &[],
            });
        }
        Registry { types }
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    /// The groups in discovery order (core first, then by first appearance).
    pub fn groups(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in &self.types {
            let gv = (t.group.clone(), t.version.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
        out
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}
