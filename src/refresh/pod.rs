//! The refresh Job's Pod template as PodSecurity `restricted` admits it: non-root as CNPG's
//! postgres uid 26, RuntimeDefault seccomp, no privilege escalation, every capability dropped,
//! a read-only root filesystem with a size-limited emptyDir `/tmp` and the dump on a generic
//! ephemeral volume (`ephemeral` is one of `restricted`'s allowed volume types), no ServiceAccount
//! token, requests and limits, the Clusters' pull secrets, CA Secrets reduced to `ca.crt`.

use serde_json::{json, Value};

use crate::k8s::cluster_access::CA_CERT_KEY;

/// The uid (and gid, fsGroup) of `postgres` in CNPG's PostgreSQL images.
pub(crate) const POSTGRES_UID: i64 = 26;
/// Where the dump directory lives (an emptyDir).
pub(crate) const DUMP_DIR: &str = "/dump";
/// The writable scratch space (an emptyDir; also `$HOME`).
pub(crate) const TMP_DIR: &str = "/tmp";
/// `/tmp`'s size limit.
pub(crate) const TMP_LIMIT: &str = "256Mi";
/// Seconds a finished Job (and its Pod, and its log) is kept: a day, long enough for a
/// resumed run to adopt it and for someone to read its log.
pub(crate) const TTL_AFTER_FINISHED: i64 = 86_400;

/// `text` as a container's command, argument or env `value`, which the kubelet expands before
/// the container sees it: `$(VAR)` becomes VAR's value and `$$` one `$` (`expansion.Expand`).
/// Every `$` doubled comes through as written: a script's `DO $$BEGIN ... END$$`, its shell's
/// `$(...)`, a database name with a `$`.
pub(crate) fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// An env entry with a plain value, [`literal`].
pub(crate) fn env_value(name: &str, value: &str) -> Value {
    json!({"name": name, "value": literal(value)})
}

/// CPU and memory for the Job's container; `None`: the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resources {
    /// Both the request and the limit, e.g. `2` or `500m`.
    pub cpu: Option<String>,
    /// Both the request and the limit, e.g. `2Gi`.
    pub memory: Option<String>,
}

impl Resources {
    /// `resources` of the container: defaults (requests 250m / 256Mi, limits 2 / 1Gi), or the
    /// given values as both request and limit; ephemeral storage for the emptyDirs.
    pub(crate) fn manifest(&self, ephemeral: &str) -> Value {
        let (cpu_req, cpu_lim) = pair(&self.cpu, "250m", "2");
        let (mem_req, mem_lim) = pair(&self.memory, "256Mi", "1Gi");
        json!({
            "requests": {"cpu": cpu_req, "memory": mem_req, "ephemeral-storage": ephemeral},
            "limits": {"cpu": cpu_lim, "memory": mem_lim, "ephemeral-storage": ephemeral},
        })
    }
}

fn pair<'a>(given: &'a Option<String>, request: &'a str, limit: &'a str) -> (&'a str, &'a str) {
    match given.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => (v, v),
        None => (request, limit),
    }
}

/// Whether `text` is a Kubernetes quantity (`500m`, `2`, `1.5Gi`, `100M`).
pub(crate) fn is_quantity(text: &str) -> bool {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let digits_ok = !number.is_empty()
        && !number.starts_with('.')
        && !number.ends_with('.')
        && number.matches('.').count() <= 1;
    let units = [
        "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    digits_ok && units.contains(&suffix)
}

/// The dump volume's size for a source database of `bytes`: its size plus a quarter (a
/// directory-format dump is compressed, so smaller), at least 1Gi, in whole GiB.
pub(crate) fn dump_limit(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    let needed = bytes.saturating_add(bytes / 4);
    format!("{}Gi", needed.div_ceil(GIB).max(1))
}

/// A one-shot Job Pod's spec without volumes or containers: never restarted, no
/// ServiceAccount token, no Service links, `security` and the pull secrets; `extra`'s fields
/// are added.
pub(crate) fn job_pod_spec(security: Value, pull_secrets: &[String], extra: Value) -> Value {
    let mut spec = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "securityContext": security,
        "imagePullSecrets": self::pull_secrets(pull_secrets),
    });
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    spec
}

/// `securityContext` of the Pod.
pub(crate) fn pod_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": POSTGRES_UID,
        "runAsGroup": POSTGRES_UID,
        "fsGroup": POSTGRES_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// `securityContext` of the container.
pub(crate) fn container_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": POSTGRES_UID,
        "runAsGroup": POSTGRES_UID,
        "allowPrivilegeEscalation": false,
        "privileged": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// A Secret volume exposing only the CA certificate of `secret` (never `ca.key`).
pub(crate) fn ca_volume(name: &str, secret: &str) -> Value {
    json!({"name": name, "secret": {
        "secretName": secret,
        "items": [{"key": CA_CERT_KEY, "path": CA_CERT_KEY}],
        "defaultMode": 0o440,
    }})
}

/// The dump's volume: a generic ephemeral volume (a PersistentVolumeClaim the Pod owns,
/// created with it and deleted with it) of `size`, so a dump as large as the source database
/// lands on a volume of its own instead of the node's ephemeral storage, where it could get
/// the Pod and its neighbours evicted. `class`: its StorageClass (`None`: the default).
pub(crate) fn dump_volume(name: &str, size: &str, class: Option<&str>, labels: &Value) -> Value {
    let mut spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    });
    if let Some(class) = class {
        spec["storageClassName"] = json!(class);
    }
    json!({"name": name, "ephemeral": {"volumeClaimTemplate": {
        "metadata": {"labels": labels},
        "spec": spec,
    }}})
}

/// An emptyDir volume limited to `size`.
pub(crate) fn scratch_volume(name: &str, size: &str) -> Value {
    json!({"name": name, "emptyDir": {"sizeLimit": size}})
}

/// `imagePullSecrets` from Secret names, each once, in order.
pub(crate) fn pull_secrets(names: &[String]) -> Value {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if !seen.contains(&n.as_str()) {
            seen.push(n);
        }
    }
    Value::Array(seen.iter().map(|n| json!({"name": n})).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_checked() {
        for ok in ["500m", "2", "1.5Gi", "100M", "1Gi"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "lots", "1GB", ".5", "1..2Gi", "-1", "1 Gi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn the_dump_is_bounded_by_the_source_size() {
        assert_eq!(dump_limit(0), "1Gi");
        assert_eq!(dump_limit(100 << 20), "1Gi");
        assert_eq!(dump_limit(10 << 30), "13Gi");
        let v = dump_volume("dump", "13Gi", Some("scratch"), &json!({"a": "b"}));
        let claim = &v["ephemeral"]["volumeClaimTemplate"];
        assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "13Gi");
        assert_eq!(claim["spec"]["storageClassName"], "scratch");
        assert_eq!(claim["metadata"]["labels"]["a"], "b");
        let default = dump_volume("dump", "1Gi", None, &json!({}));
        assert!(default["ephemeral"]["volumeClaimTemplate"]["spec"]
            .get("storageClassName")
            .is_none());
    }

    #[test]
    fn given_resources_are_request_and_limit() {
        let default = Resources::default().manifest("1Gi");
        assert_eq!(default["requests"]["memory"], "256Mi");
        assert_eq!(default["limits"]["memory"], "1Gi");
        let given = Resources {
            cpu: Some("1".into()),
            memory: Some("4Gi".into()),
        }
        .manifest("1Gi");
        assert_eq!(given["requests"]["memory"], "4Gi");
        assert_eq!(given["limits"]["cpu"], "1");
        assert_eq!(given["limits"]["ephemeral-storage"], "1Gi");
    }

    #[test]
    fn pull_secrets_are_listed_once() {
        let names = ["a".to_string(), "b".into(), "a".into()];
        assert_eq!(pull_secrets(&names), json!([{"name": "a"}, {"name": "b"}]));
    }
}
