//! Admission of a written object: decoding into the real type (built-ins) or the CRD's
//! structural schema (custom resources), unknown-field handling, and the semantic validation
//! kube-apiserver (and, for CNPG clusters, the CNPG webhook) performs.
use serde_json::Value;

use super::registry::ResourceType;
use super::status::{ApiError, Cause};
use crate::schema::{AdmitError, FieldValidation};

/// An admitted object and the warnings to send back (`Warning` headers).
pub struct Admitted {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// Checks `obj` for `rt` and returns it pruned and defaulted, or the error kube would answer.
pub fn admit(rt: &ResourceType, obj: Value, fv: FieldValidation) -> Result<Admitted, ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let admitted = match (rt.crd, rt.decode) {
        (Some(crd), _) => match crd.schema.admit(obj, fv) {
            Ok(a) => Admitted {
                object: a.object,
                warnings: a.warnings,
            },
            Err(AdmitError::UnknownFields(paths)) => return Err(strict_error(rt, &paths)),
            Err(AdmitError::Invalid(causes)) => {
                let causes = causes
                    .into_iter()
                    .map(|c| Cause {
                        reason: c.reason,
                        message: c.message,
                        field: c.field,
                    })
                    .collect();
                return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
            }
        },
        (None, Some(decode)) => decode_builtin(rt, decode, obj, fv)?,
        (None, None) => Admitted {
            object: obj,
            warnings: vec![],
        },
    };
    let causes = super::validation::validate(rt, &admitted.object);
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
    }
    Ok(admitted)
}

fn strict_error(rt: &ResourceType, paths: &[String]) -> ApiError {
    let list: Vec<String> = paths
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    ApiError::bad_request(format!(
        "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
        rt.kind,
        rt.version,
        rt.kind,
        list.join(", ")
    ))
}

fn decode_builtin(
    rt: &ResourceType,
    decode: super::registry::Decode,
    obj: Value,
    fv: FieldValidation,
) -> Result<Admitted, ApiError> {
    let typed = decode(obj.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        ))
    })?;
    let mut unknown = vec![];
    unknown_fields(&obj, &typed, String::new(), &mut unknown);
    match fv {
        FieldValidation::Strict if !unknown.is_empty() => Err(strict_error(rt, &unknown)),
        FieldValidation::Warn => Ok(Admitted {
            object: typed,
            warnings: unknown
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect(),
        }),
        _ => Ok(Admitted {
            object: typed,
            warnings: vec![],
        }),
    }
}

/// Fields present in what was sent but dropped by decoding into the typed struct.
fn unknown_fields(sent: &Value, kept: &Value, path: String, out: &mut Vec<String>) {
    match (sent, kept) {
        (Value::Object(s), Value::Object(k)) => {
            for (key, v) in s {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    None if !v.is_null() => out.push(p),
                    Some(kv) => unknown_fields(v, kv, p, out),
                    None => {}
                }
            }
        }
        (Value::Array(s), Value::Array(k)) => {
            for (i, (sv, kv)) in s.iter().zip(k).enumerate() {
                unknown_fields(sv, kv, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;
    use serde_json::json;

    #[test]
    fn builtin_type_errors_are_400_and_unknown_fields_follow_field_validation() {
        let reg = Registry::new();
        let cm = reg.find("", "v1", "configmaps").unwrap();
        let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": 1}});
        let err = admit(cm, bad, FieldValidation::Warn).err().unwrap();
        assert_eq!(err.code, 400);
        assert!(
            err.message.contains("cannot be handled as a ConfigMap"),
            "{}",
            err.message
        );
        let extra = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}, "spce": 1});
        let err = admit(cm, extra.clone(), FieldValidation::Strict)
            .err()
            .unwrap();
        assert_eq!(
            (err.code, err.message.contains("unknown field \"spce\"")),
            (400, true)
        );
        let ok = admit(cm, extra, FieldValidation::Warn).unwrap();
        assert_eq!(ok.warnings, vec!["unknown field \"spce\"".to_string()]);
        assert!(ok.object.get("spce").is_none());
    }
}
