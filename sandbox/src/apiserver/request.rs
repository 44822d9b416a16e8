//! One API request taken apart: which resource, namespace, name and subresource the path names,
//! and the query options (selectors, paging, watch, dryRun, fieldManager, fieldValidation...).
use std::collections::HashMap;

use super::registry::{Registry, ResourceType};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use crate::schema::FieldValidation;

/// The object or collection a resource path addresses.
pub struct Target<'r> {
    pub rt: &'r ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// Parses the part of the path after `/api/v1` or `/apis/GROUP/VERSION`.
pub fn parse_target<'r>(
    reg: &'r Registry,
    group: &str,
    version: &str,
    segs: &[&str],
) -> Result<Target<'r>, ApiError> {
    let find = |plural: &str| {
        reg.find(group, version, plural)
            .ok_or_else(ApiError::not_found_path)
    };
    let t = |rt, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        rt,
        namespace: ns.map(String::from),
        name: name.map(String::from),
        sub: sub.map(String::from),
    };
    Ok(match segs {
        [res] => t(find(res)?, None, None, None),
        [res, name] => t(find(res)?, None, Some(name), None),
        ["namespaces", ns, res] if !(group.is_empty() && matches!(*res, "status" | "finalize")) => {
            t(find(res)?, Some(ns), None, None)
        }
        [res, name, sub] => t(find(res)?, None, Some(name), Some(sub)),
        ["namespaces", ns, res, name] => t(find(res)?, Some(ns), Some(name), None),
        ["namespaces", ns, res, name, sub] => t(find(res)?, Some(ns), Some(name), Some(sub)),
        _ => return Err(ApiError::not_found_path()),
    })
}

/// Query options, parsed and checked once.
pub struct Query {
    raw: HashMap<String, String>,
    pub label: LabelSelector,
    pub dry_run: bool,
    pub field_validation: FieldValidation,
}

impl Query {
    pub fn parse(q: Option<&str>) -> Result<Self, ApiError> {
        let raw: HashMap<String, String> = form_urlencoded::parse(q.unwrap_or("").as_bytes())
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let label =
            LabelSelector::parse(raw.get("labelSelector").map(String::as_str).unwrap_or(""))?;
        let dry_run = match raw.get("dryRun").map(String::as_str) {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dryRun value: {other:?}: supported values: \"All\""
                )))
            }
        };
        let field_validation = match raw.get("fieldValidation").map(String::as_str) {
            None | Some("") => FieldValidation::Warn,
            Some(v) => v.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {v:?}"
                ))
            })?,
        };
        Ok(Query {
            raw,
            label,
            dry_run,
            field_validation,
        })
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.raw
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn flag(&self, k: &str) -> bool {
        // Go's strconv.ParseBool, which kube-apiserver uses for query booleans.
        matches!(
            self.get(k),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }

    pub fn field(&self, rt: &ResourceType) -> Result<FieldSelector, ApiError> {
        FieldSelector::parse(self.get("fieldSelector").unwrap_or(""), rt.field_labels)
    }

    pub fn number(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}")))
            })
            .transpose()
    }
}
