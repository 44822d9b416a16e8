//! CRD loading and structural-schema admission (pruning, defaulting, validation) for custom resources, as kube-apiserver does it.
//!
//! The CRD manifests of `sandbox/crds/` are embedded and parsed once ([`builtin_crds`]).
//! Each CRD's served+storage version carries a [`StructuralSchema`] whose
//! [`admit`](StructuralSchema::admit) runs kube-apiserver's pipeline for custom resources:
//!
//! 1. unknown fields are pruned (reported as an error under `fieldValidation=Strict`,
//!    as warnings under `Warn`, silently under `Ignore`) — `prune.rs`;
//! 2. `null` values of non-nullable fields without a default are dropped and
//!    integral floats become integers (as kube's JSON round trip does) — `defaults.rs`;
//! 3. schema `default`s are applied — `defaults.rs`;
//! 4. the object is validated against the OpenAPI v3 schema — `validate.rs`.
//!
//! Not enforced (CEL `x-kubernetes-validations` rules of the embedded CRDs):
//! - Cluster: `!(has(self.imageCatalogRef) && has(self.imageName))` on `spec`;
//!   `spec.bootstrap.initdb` locale-provider rules (`builtinLocale`/`icuLocale`/`icuRules`);
//!   `spec.imageCatalogRef` kind/apiGroup rules; `spec.postgresql.synchronous` rules
//!   (`dataDurability` vs `standbyNamesPre/Post`, `number > 0`);
//!   `spec.serviceAccountName` immutability (`self == oldSelf`).
//! - Backup: `spec` immutability (`oldSelf == self`).
//! - ScheduledBackup: `spec.cluster` immutability.
//! - Database: locale-provider rules on `spec`; immutability of `spec.name`, `cluster`,
//!   `encoding`, `locale*`, `icu*`, `builtinLocale`, `collationVersion`, `template`,
//!   `localeProvider`; `spec.name` not `postgres`/`template0`/`template1`;
//!   non-empty `fdws[].usage[].name`, `servers[].fdw`, `servers[].usage[].name`.
//! - Pooler: `spec.cluster` and `spec.serviceAccountName` immutability;
//!   `!(has(self.image) && has(self.imageCatalogRef))` on `spec.pgbouncer`;
//!   `spec.pgbouncer.imageCatalogRef` kind/apiGroup rules.
//! - ObjectStore: `!has(self.serverName)` on `spec.configuration`;
//!   no `--log-level` in `spec.instanceSidecarConfiguration.additionalContainerArgs`.
//!
//! Also not done here: ObjectMeta validation (name format, etc.) and status-subresource
//! handling (dropping `status` on main-resource writes) are the API server's job.

mod defaults;
mod prune;
mod structural;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::Value;

pub use structural::StructuralSchema;

/// The CRD manifests served by the sandbox, embedded at build time.
const BUILTIN_MANIFESTS: &[(&str, &str)] = &[
    (
        "postgresql.cnpg.io_clusters.yaml",
        include_str!("../../crds/postgresql.cnpg.io_clusters.yaml"),
    ),
    (
        "postgresql.cnpg.io_backups.yaml",
        include_str!("../../crds/postgresql.cnpg.io_backups.yaml"),
    ),
    (
        "postgresql.cnpg.io_scheduledbackups.yaml",
        include_str!("../../crds/postgresql.cnpg.io_scheduledbackups.yaml"),
    ),
    (
        "postgresql.cnpg.io_databases.yaml",
        include_str!("../../crds/postgresql.cnpg.io_databases.yaml"),
    ),
    (
        "postgresql.cnpg.io_poolers.yaml",
        include_str!("../../crds/postgresql.cnpg.io_poolers.yaml"),
    ),
    (
        "barmancloud.cnpg.io_objectstores.yaml",
        include_str!("../../crds/barmancloud.cnpg.io_objectstores.yaml"),
    ),
    (
        "application-crd.yaml",
        include_str!("../../crds/application-crd.yaml"),
    ),
];

/// One custom resource definition, reduced to its served+storage version.
#[derive(Debug)]
pub struct CrdInfo {
    /// `metadata.name` of the CRD, e.g. `clusters.postgresql.cnpg.io`.
    pub name: String,
    pub group: String,
    /// The served+storage version.
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub status_subresource: bool,
    pub scale: Option<ScaleSubresource>,
    pub printer_columns: Vec<PrinterColumn>,
    /// From `versions[].schema.openAPIV3Schema`.
    pub schema: StructuralSchema,
    /// The whole CRD manifest as JSON (for serving `apiextensions.k8s.io` reads).
    pub manifest: Value,
}

/// `subresources.scale` of a CRD version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSubresource {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

/// One `additionalPrinterColumns` entry (empty strings where the CRD leaves a field out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub description: String,
    pub priority: i32,
    pub format: String,
}

/// Why a CRD manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("invalid CRD YAML: {0}")]
    Yaml(String),
    #[error("invalid CRD: missing or invalid {0}")]
    Missing(&'static str),
    #[error("invalid CRD: {0}")]
    Schema(String),
}

impl CrdInfo {
    /// Parses a `CustomResourceDefinition` (apiextensions.k8s.io/v1) YAML manifest.
    pub fn from_yaml(yaml: &str) -> Result<CrdInfo, CrdError> {
        let manifest: Value =
            serde_saphyr::from_str(yaml).map_err(|e| CrdError::Yaml(e.to_string()))?;
        CrdInfo::from_manifest(manifest)
    }

    /// Builds a [`CrdInfo`] from a CRD manifest already decoded to JSON.
    pub fn from_manifest(manifest: Value) -> Result<CrdInfo, CrdError> {
        let spec = manifest.get("spec").ok_or(CrdError::Missing("spec"))?;
        let names = spec.get("names").ok_or(CrdError::Missing("spec.names"))?;
        let versions = spec
            .get("versions")
            .and_then(Value::as_array)
            .ok_or(CrdError::Missing("spec.versions"))?;
        let is_true = |v: &Value, key: &str| v.get(key).and_then(Value::as_bool) == Some(true);
        let version = versions
            .iter()
            .find(|v| is_true(v, "storage") && is_true(v, "served"))
            .ok_or(CrdError::Missing("served+storage version"))?;
        let raw_schema = version
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .ok_or(CrdError::Missing("versions[].schema.openAPIV3Schema"))?;
        let plural = string_at(names, "plural").ok_or(CrdError::Missing("spec.names.plural"))?;
        let group = string_at(spec, "group").ok_or(CrdError::Missing("spec.group"))?;
        let kind = string_at(names, "kind").ok_or(CrdError::Missing("spec.names.kind"))?;
        let subresources = version.get("subresources");
        let scale = subresources
            .and_then(|s| s.get("scale"))
            .map(|s| ScaleSubresource {
                spec_replicas_path: string_at(s, "specReplicasPath").unwrap_or_default(),
                status_replicas_path: string_at(s, "statusReplicasPath").unwrap_or_default(),
                label_selector_path: string_at(s, "labelSelectorPath"),
            });
        let printer_columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| cols.iter().map(printer_column).collect())
            .unwrap_or_default();
        Ok(CrdInfo {
            name: manifest
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("{plural}.{group}"), str::to_owned),
            version: string_at(version, "name").ok_or(CrdError::Missing("versions[].name"))?,
            list_kind: string_at(names, "listKind").unwrap_or_else(|| format!("{kind}List")),
            singular: string_at(names, "singular").unwrap_or_else(|| kind.to_lowercase()),
            short_names: strings_at(names, "shortNames"),
            categories: strings_at(names, "categories"),
            namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
            status_subresource: subresources.and_then(|s| s.get("status")).is_some(),
            scale,
            printer_columns,
            schema: StructuralSchema::new(raw_schema).map_err(CrdError::Schema)?,
            group,
            kind,
            plural,
            manifest,
        })
    }

    /// `group/version`, the `apiVersion` of the custom resources.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
}

fn string_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings_at(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn printer_column(col: &Value) -> PrinterColumn {
    PrinterColumn {
        name: string_at(col, "name").unwrap_or_default(),
        type_: string_at(col, "type").unwrap_or_default(),
        json_path: string_at(col, "jsonPath").unwrap_or_default(),
        description: string_at(col, "description").unwrap_or_default(),
        priority: col
            .get("priority")
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0),
        format: string_at(col, "format").unwrap_or_default(),
    }
}

/// The embedded CRDs, parsed on first use.
pub fn builtin_crds() -> &'static [CrdInfo] {
    static CRDS: OnceLock<Vec<CrdInfo>> = OnceLock::new();
    CRDS.get_or_init(|| {
        BUILTIN_MANIFESTS
            .iter()
            .map(|(file, yaml)| {
                CrdInfo::from_yaml(yaml)
                    .unwrap_or_else(|e| panic!("embedded CRD {file} must load: {e}"))
            })
            .collect()
    })
}

/// The embedded CRD serving `group`/`plural`, if any.
pub fn find_crd(group: &str, plural: &str) -> Option<&'static CrdInfo> {
    builtin_crds()
        .iter()
        .find(|c| c.group == group && c.plural == plural)
}

/// The `fieldValidation` query parameter of create/update/patch requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields and return a warning for each (the server default).
    #[default]
    Warn,
    /// Reject the request when it has unknown fields.
    Strict,
}

/// An unsupported `fieldValidation` value; Display is kube-apiserver's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "fieldValidation: Unsupported value: {0:?}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
)]
pub struct InvalidFieldValidation(pub String);

impl FromStr for FieldValidation {
    type Err = InvalidFieldValidation;

    /// `Ignore`, `Warn` or `Strict`; the empty string means the default (`Warn`), as in kube.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Ignore" => Ok(FieldValidation::Ignore),
            "Warn" | "" => Ok(FieldValidation::Warn),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(InvalidFieldValidation(other.to_owned())),
        }
    }
}

/// An object that passed admission: pruned, defaulted and valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub object: Value,
    /// `unknown field "spec.foo"` per pruned field under `fieldValidation=Warn`.
    pub warnings: Vec<String>,
}

/// A `metav1.StatusCause`: `reason` is the field error type (e.g. `FieldValueRequired`),
/// `message` the error body without the field (e.g. `Required value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl fmt::Display for Cause {
    /// `field: message`, as one entry of kube's aggregated field errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Why [`StructuralSchema::admit`] rejected an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitError {
    /// 400 BadRequest in kube-apiserver: unknown fields under fieldValidation=Strict.
    UnknownFields(Vec<String>),
    /// 422 Invalid: schema violations.
    Invalid(Vec<Cause>),
}

impl fmt::Display for AdmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdmitError::UnknownFields(paths) => {
                f.write_str("strict decoding error: ")?;
                let list: Vec<String> = paths
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
                f.write_str(&list.join(", "))
            }
            AdmitError::Invalid(causes) => f.write_str(&aggregate(causes)),
        }
    }
}

impl std::error::Error for AdmitError {}

impl AdmitError {
    /// kube-apiserver's `Status.message` for this error, e.g.
    /// `Cluster.postgresql.cnpg.io "pg" is invalid: spec.instances: Invalid value: ...`.
    /// `qualified_kind` is `Kind.group`.
    pub fn status_message(&self, qualified_kind: &str, name: &str) -> String {
        match self {
            AdmitError::UnknownFields(_) => self.to_string(),
            AdmitError::Invalid(causes) if causes.is_empty() => {
                format!("{qualified_kind} {name:?} is invalid")
            }
            AdmitError::Invalid(causes) => {
                format!(
                    "{qualified_kind} {name:?} is invalid: {}",
                    aggregate(causes)
                )
            }
        }
    }
}

/// kube's `ErrorList.ToAggregate().Error()`: one message alone, several in `[a, b]`,
/// duplicates removed.
fn aggregate(causes: &[Cause]) -> String {
    let mut msgs: Vec<String> = Vec::with_capacity(causes.len());
    for c in causes {
        let m = c.to_string();
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    if msgs.len() == 1 {
        msgs.remove(0)
    } else {
        format!("[{}]", msgs.join(", "))
    }
}
