//! Authentication and RBAC authorization, as kube-apiserver does them for what the sandbox needs:
//! no credentials = the sandbox's admin (what its kubeconfig uses); `Authorization: Bearer` with a
//! ServiceAccount token (from the `serviceaccounts/token` subresource) = that ServiceAccount,
//! authorized by Roles/ClusterRoles through RoleBindings/ClusterRoleBindings (403 otherwise).
use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::status::ApiError;
use super::store::ResKey;
use super::ApiServer;

/// Who makes a request.
#[derive(Debug, Clone, PartialEq)]
pub enum User {
    Admin,
    ServiceAccount { namespace: String, name: String },
}

impl User {
    pub fn name(&self) -> String {
        match self {
            User::Admin => "sandbox-admin".into(),
            User::ServiceAccount { namespace, name } => {
                format!("system:serviceaccount:{namespace}:{name}")
            }
        }
    }
}

/// Issued ServiceAccount tokens.
#[derive(Default)]
pub struct Tokens {
    issued: Mutex<HashMap<String, (String, String)>>,
}

impl Tokens {
    /// Issues a token for `namespace/name` (the TokenRequest API).
    pub fn issue(&self, namespace: &str, name: &str) -> String {
        let token = format!(
            "sandbox.{}.{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), (namespace.into(), name.into()));
        token
    }

    /// The user a request authenticates as; 401 for an unknown token.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<User, ApiError> {
        let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
            return Ok(User::Admin);
        };
        let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        let (namespace, name) = issued.get(token.trim()).cloned().ok_or_else(|| ApiError {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: None,
        })?;
        Ok(User::ServiceAccount { namespace, name })
    }
}

/// What a request does, in RBAC terms.
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    /// `resource` or `resource/subresource`.
    pub resource: String,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

fn matches(list: &Value, want: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|v| v == "*" || v == want))
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let names_ok = match rule.get("resourceNames").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => a.name.is_some_and(|n| names.iter().any(|x| x == n)),
        _ => true,
    };
    matches(&rule["verbs"], a.verb)
        && matches(&rule["apiGroups"], a.group)
        && (matches(&rule["resources"], &a.resource)
            || matches(
                &rule["resources"],
                &format!("{}/*", a.resource.split('/').next().unwrap_or("")),
            ))
        && names_ok
}

fn subject_is(subject: &Value, ns: &str, name: &str) -> bool {
    subject["kind"] == "ServiceAccount"
        && subject["name"] == name
        && subject
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(ns)
            == ns
}

fn rules_of(api: &ApiServer, role_ref: &Value, binding_ns: &str) -> Vec<Value> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let role = match role_ref["kind"].as_str() {
        Some("ClusterRole") => api.get_obj("rbac.authorization.k8s.io", "clusterroles", "", name),
        _ => api.get_obj("rbac.authorization.k8s.io", "roles", binding_ns, name),
    };
    role.and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// Allows the request or answers 403 Forbidden in kube-apiserver's words.
pub fn authorize(api: &ApiServer, user: &User, a: &Attributes) -> Result<(), ApiError> {
    let User::ServiceAccount {
        namespace: sa_ns,
        name: sa,
    } = user
    else {
        return Ok(());
    };
    let txn = api.store.lock();
    let cluster_bindings = txn.list(
        &ResKey::new("rbac.authorization.k8s.io", "clusterrolebindings"),
        None,
    );
    let bindings = a
        .namespace
        .map(|ns| {
            txn.list(
                &ResKey::new("rbac.authorization.k8s.io", "rolebindings"),
                Some(ns),
            )
        })
        .unwrap_or_default();
    drop(txn);
    let bound = |b: &Value| {
        b["subjects"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| subject_is(s, sa_ns, sa)))
    };
    let allowed = cluster_bindings
        .iter()
        .filter(|b| bound(b))
        .chain(bindings.iter().filter(|b| bound(b)))
        .any(|b| {
            let ns = b
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            rules_of(api, &b["roleRef"], ns)
                .iter()
                .any(|r| rule_allows(r, a))
        });
    if allowed {
        return Ok(());
    }
    let (resource, sub) = a
        .resource
        .split_once('/')
        .map(|(r, s)| (r, Some(s)))
        .unwrap_or((a.resource.as_str(), None));
    let what = match a.name {
        Some(n) => format!("{resource} \"{n}\" is forbidden"),
        None => format!("{resource} is forbidden"),
    };
    let sub = sub
        .map(|s| format!("{resource}/{s}"))
        .unwrap_or_else(|| resource.to_string());
    let scope = match a.namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".into(),
    };
    let message = format!(
        "{what}: User \"{}\" cannot {} resource \"{sub}\" in API group \"{}\"{scope}",
        user.name(),
        a.verb,
        a.group
    );
    let mut e = ApiError::forbidden(message);
    e.details =
        Some(json!({"name": a.name.unwrap_or_default(), "group": a.group, "kind": resource}));
    Err(e)
}

/// The RBAC verb of a request.
pub fn verb(method: &str, named: bool, watch: bool) -> &'static str {
    match (method, named, watch) {
        (_, _, true) => "watch",
        ("GET" | "HEAD", true, _) => "get",
        ("GET" | "HEAD", false, _) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "unknown",
    }
}
