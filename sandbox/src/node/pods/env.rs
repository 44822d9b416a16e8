//! A container's environment as the kubelet builds it: `envFrom`, then `env` with
//! `secretKeyRef` / `configMapKeyRef` / `fieldRef` and `$(VAR)` expansion; a missing Secret,
//! ConfigMap or key (not optional) is a `CreateContainerConfigError`.
use base64::Engine;
use serde_json::Value;

use crate::cluster::Cluster;

/// Why a container cannot start (reason, message), as the kubelet reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

/// Expands a command, an argument or an env `value` as the kubelet does (its
/// `expansion.Expand`): `$(VAR)` is VAR's value from `env`, an unknown or unclosed reference
/// stays as written, `$$` is one `$` (so `$$(VAR)` is the text `$(VAR)` and `DO $$BEGIN` is
/// `DO $BEGIN`), any other `$` is itself.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|r| r.split_once(')')) {
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn source(api: &Cluster, ns: &str, secret: bool, name: &str) -> Option<Value> {
    api.get_obj("", if secret { "secrets" } else { "configmaps" }, ns, name)
}

/// The value of `key` in a Secret (decoded) or ConfigMap.
fn key_value(obj: &Value, secret: bool, key: &str) -> Option<String> {
    let v = obj.get("data")?.get(key)?.as_str()?;
    if secret {
        let bytes = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        Some(v.to_string())
    }
}

fn key_ref(
    api: &Cluster,
    ns: &str,
    r: &Value,
    secret: bool,
) -> Result<Option<String>, ConfigError> {
    let name = r["name"].as_str().unwrap_or_default();
    let key = r["key"].as_str().unwrap_or_default();
    let optional = r["optional"].as_bool().unwrap_or(false);
    let what = if secret { "secret" } else { "configmap" };
    let Some(obj) = source(api, ns, secret, name) else {
        return if optional {
            Ok(None)
        } else {
            Err(ConfigError(format!("{what} \"{name}\" not found")))
        };
    };
    match key_value(&obj, secret, key) {
        Some(v) => Ok(Some(v)),
        None if optional => Ok(None),
        None => Err(ConfigError(format!(
            "couldn't find key {key} in {} {ns}/{name}",
            if secret { "Secret" } else { "ConfigMap" }
        ))),
    }
}

fn field_ref(pod: &Value, path: &str) -> String {
    if let Some(label) = path
        .strip_prefix("metadata.labels['")
        .and_then(|p| p.strip_suffix("']"))
    {
        return pod
            .pointer("/metadata/labels")
            .and_then(|l| l.get(label))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
    }
    // status.podIP / status.hostIP are in the Pod's status by the time containers start.
    let pointer = format!("/{}", path.replace('.', "/"));
    pod.pointer(&pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The environment of `container` in `pod`, or why it cannot be built.
pub fn resolve(
    api: &Cluster,
    pod: &Value,
    container: &Value,
) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut env: Vec<(String, String)> = vec![];
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        let (r, secret) = if from.get("secretRef").is_some() {
            (&from["secretRef"], true)
        } else {
            (&from["configMapRef"], false)
        };
        let name = r["name"].as_str().unwrap_or_default();
        match source(api, ns, secret, name) {
            Some(obj) => {
                for k in obj["data"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if let Some(v) = key_value(&obj, secret, &k) {
                        env.push((format!("{prefix}{k}"), v));
                    }
                }
            }
            None if r["optional"].as_bool().unwrap_or(false) => {}
            None => {
                return Err(ConfigError(format!(
                    "{} \"{name}\" not found",
                    if secret { "secret" } else { "configmap" }
                )))
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            Some(expand(v, &env))
        } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
            key_ref(api, ns, r, true)?
        } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
            key_ref(api, ns, r, false)?
        } else if let Some(p) = e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str)
        {
            Some(field_ref(pod, p))
        } else {
            Some(String::new())
        };
        if let Some(v) = value {
            env.retain(|(k, _)| *k != name);
            env.push((name, v));
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn expands_as_the_kubelet_does() {
        let env = vec![
            ("HOST".to_string(), "db".to_string()),
            ("PORT".to_string(), "5432".to_string()),
            ("EMPTY".to_string(), String::new()),
        ];
        for (input, expected) in [
            ("$(HOST):$(PORT)/$(NOPE)", "db:5432/$(NOPE)"),
            ("$$(HOST)_$(PORT)", "$(HOST)_5432"),
            ("plain", "plain"),
            (
                "DO $$BEGIN RAISE WARNING 'x'; END$$;",
                "DO $BEGIN RAISE WARNING 'x'; END$;",
            ),
            ("$$$$$$(HOST)", "$$$(HOST)"),
            ("$$$$$$$(HOST)", "$$$db"),
            ("x$(EMPTY)y", "xy"),
            ("$HOST ${HOST} $? $", "$HOST ${HOST} $? $"),
            ("$(HOST$(PORT))", "$(HOST$(PORT))"),
            ("$(PORT)__$(HOST", "5432__$(HOST"),
            ("--$($($(", "--$($($("),
            ("$(a$$b)", "$(a$$b)"),
            ("prefix-$€-$中文", "prefix-$€-$中文"),
        ] {
            assert_eq!(expand(input, &env), expected, "{input}");
        }
    }
}
