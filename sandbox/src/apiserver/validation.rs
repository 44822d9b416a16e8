//! Semantic validation beyond the schema: object names, the required fields of the built-in
//! types the sandbox serves, and the CNPG webhook's rules for a Cluster.
use serde_json::Value;

use super::registry::ResourceType;
use super::status::Cause;

fn cause(reason: &str, field: &str, message: impl Into<String>) -> Cause {
    Cause {
        reason: reason.into(),
        field: field.into(),
        message: message.into(),
    }
}

const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 DNS subdomain (most object names) or label (namespaces, services).
pub fn name_error(rt: &ResourceType, name: &str) -> Option<Cause> {
    let label_only = matches!(rt.plural.as_str(), "namespaces" | "services");
    let ok = if label_only {
        is_label(name)
    } else {
        name.len() <= 253 && name.split('.').all(is_label)
    };
    (!ok).then(|| {
        cause(
            "FieldValueInvalid",
            "metadata.name",
            format!(
                "Invalid value: \"{name}\": {}",
                if label_only { LABEL } else { SUBDOMAIN }
            ),
        )
    })
}

fn missing(v: &Value, pointer: &str) -> bool {
    match v.pointer(pointer) {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

fn pod_spec(spec: &Value, at: &str, out: &mut Vec<Cause>) {
    let field = format!("{at}.containers");
    if missing(spec, "/containers") {
        out.push(cause("FieldValueRequired", &field, "Required value"));
        return;
    }
    for (i, c) in spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for key in ["name", "image"] {
            if missing(c, &format!("/{key}")) {
                out.push(cause(
                    "FieldValueRequired",
                    &format!("{field}[{i}].{key}"),
                    "Required value",
                ));
            }
        }
    }
}

/// Every semantic error of `obj`, as causes (empty when valid).
pub fn validate(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut out = vec![];
    if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
        out.extend(name_error(rt, name));
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => pod_spec(&obj["spec"], "spec", &mut out),
        ("batch", "jobs") => {
            pod_spec(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut out,
            );
            let rp = obj
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str);
            if !matches!(rp, Some("Never" | "OnFailure")) {
                out.push(cause(
                    "FieldValueNotSupported",
                    "spec.template.spec.restartPolicy",
                    format!(
                        "Unsupported value: \"{}\": supported values: \"OnFailure\", \"Never\"",
                        rp.unwrap_or("Always")
                    ),
                ));
            }
        }
        ("batch", "cronjobs") => {
            if missing(obj, "/spec/schedule") {
                out.push(cause(
                    "FieldValueRequired",
                    "spec.schedule",
                    "Required value",
                ));
            }
            pod_spec(
                &obj["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                "spec.jobTemplate.spec.template.spec",
                &mut out,
            );
        }
        ("apps", "deployments") => deployment(obj, &mut out),
        ("postgresql.cnpg.io", "clusters") => cnpg_cluster(obj, &mut out),
        _ => {}
    }
    out
}

fn deployment(obj: &Value, out: &mut Vec<Cause>) {
    pod_spec(&obj["spec"]["template"]["spec"], "spec.template.spec", out);
    let Some(want) = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    else {
        out.push(cause(
            "FieldValueRequired",
            "spec.selector",
            "Required value",
        ));
        return;
    };
    let labels = obj.pointer("/spec/template/metadata/labels");
    if !want
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    {
        out.push(cause(
            "FieldValueInvalid",
            "spec.template.metadata.labels",
            "Invalid value: selector does not match template labels",
        ));
    }
}

/// The CNPG validating webhook's rules that matter to cnpgops.
fn cnpg_cluster(obj: &Value, out: &mut Vec<Cause>) {
    if let Some(b) = obj.pointer("/spec/bootstrap").and_then(Value::as_object) {
        let methods: Vec<&String> = b
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect();
        if methods.len() > 1 {
            out.push(cause(
                "FieldValueInvalid",
                "spec.bootstrap",
                "Invalid value: \"\": Only one bootstrap method can be specified at a time",
            ));
        }
    }
    if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
        if name.len() > 50 {
            out.push(cause("FieldValueInvalid", "metadata.name", format!("Invalid value: \"{name}\": the maximum length of a cluster name is 50 characters")));
        }
    }
}
