//! Typed runbook parameters: declaration checks and conversion of `-p key=value` strings.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use super::error::{Diagnostics, Pos, RunbookError};

/// The type of a parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "values")]
pub(crate) enum ParamType {
    String,
    Int,
    Bool,
    /// A duration such as `90s`, `10m`, `1h 30m`.
    Duration,
    /// An RFC 3339 timestamp with an explicit offset, e.g. `2026-11-24T00:30:12Z`.
    Timestamp,
    Enum(Vec<String>),
}

impl ParamType {
    /// The name used in runbooks and messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
            ParamType::Timestamp => "timestamp",
            ParamType::Enum(_) => "enum",
        }
    }
}

/// A checked parameter declaration.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ParamSpec {
    pub name: String,
    #[serde(flatten)]
    pub ty: ParamType,
    pub required: bool,
    pub default: Option<Value>,
    #[serde(serialize_with = "ser_regex")]
    pub pattern: Option<Regex>,
    pub description: Option<String>,
    #[serde(skip)]
    pub pos: Pos,
}

fn ser_regex<S: serde::Serializer>(re: &Option<Regex>, s: S) -> Result<S::Ok, S::Error> {
    match re {
        Some(re) => s.serialize_some(re.as_str()),
        None => s.serialize_none(),
    }
}

/// Resolved parameter values, ready for templates (`params.<name>`).
pub(crate) type ParamValues = BTreeMap<String, Value>;

impl ParamSpec {
    /// Converts a textual value to this parameter's type, or says what was expected.
    pub(crate) fn convert(&self, raw: &str) -> Result<Value, String> {
        let value = match &self.ty {
            ParamType::String => Value::from(raw),
            ParamType::Int => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("expected an integer, got `{raw}`"))?,
            ParamType::Bool => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(format!("expected `true` or `false`, got `{raw}`")),
            },
            ParamType::Duration => {
                humantime::parse_duration(raw).map_err(|e| {
                    format!("expected a duration like `90s` or `10m`, got `{raw}` ({e})")
                })?;
                Value::from(raw)
            }
            ParamType::Timestamp => {
                chrono::DateTime::parse_from_rfc3339(raw).map_err(|e| {
                    format!("expected an RFC 3339 timestamp with offset like `2026-11-24T00:30:12Z`, got `{raw}` ({e})")
                })?;
                Value::from(raw)
            }
            ParamType::Enum(values) => {
                if !values.iter().any(|v| v == raw) {
                    return Err(format!(
                        "expected one of {}, got `{raw}`",
                        values.join(", ")
                    ));
                }
                Value::from(raw)
            }
        };
        if let Some(re) = &self.pattern {
            if !re.is_match(raw) {
                return Err(format!("`{raw}` does not match pattern `{}`", re.as_str()));
            }
        }
        Ok(value)
    }
}

/// Turns `-p key=value` pairs into typed values: unknown names, bad values and missing
/// required parameters are reported at the declaration (or the runbook's `name:`).
pub(crate) fn resolve(
    file: &str,
    specs: &[ParamSpec],
    name_pos: Pos,
    given: &BTreeMap<String, String>,
) -> Result<ParamValues, RunbookError> {
    let mut diags = Diagnostics::new(file);
    let mut values = ParamValues::new();
    for key in given.keys() {
        if !specs.iter().any(|p| &p.name == key) {
            let known: Vec<&str> = specs.iter().map(|p| p.name.as_str()).collect();
            diags.push(
                name_pos,
                format!(
                    "unknown param `{key}`; this runbook takes: {}",
                    known.join(", ")
                ),
            );
        }
    }
    for spec in specs {
        match (given.get(&spec.name), &spec.default) {
            (Some(raw), _) => match spec.convert(raw) {
                Ok(v) => {
                    values.insert(spec.name.clone(), v);
                }
                Err(e) => diags.push(
                    spec.pos,
                    format!("invalid value for param `{}`: {e}", spec.name),
                ),
            },
            (None, Some(default)) => {
                values.insert(spec.name.clone(), default.clone());
            }
            (None, None) if spec.required => diags.push(
                spec.pos,
                format!(
                    "missing required param `{}` ({}): pass -p {}=VALUE",
                    spec.name,
                    spec.ty.name(),
                    spec.name
                ),
            ),
            (None, None) => {
                values.insert(spec.name.clone(), Value::Null);
            }
        }
    }
    diags.finish(values)
}

/// Parses `key=value` command-line pairs; a pair without `=` is a usage error.
pub(crate) fn parse_pairs(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!(
                "failed to parse param `{pair}`: expected KEY=VALUE"
            ));
        };
        if out.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(format!("failed to parse params: `{k}` given twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ty: ParamType) -> ParamSpec {
        ParamSpec {
            name: "p".into(),
            ty,
            required: true,
            default: None,
            pattern: None,
            description: None,
            pos: Pos::new(4, 5),
        }
    }

    #[test]
    fn converts_each_type() {
        assert_eq!(spec(ParamType::Int).convert("42").unwrap(), Value::from(42));
        assert_eq!(
            spec(ParamType::Bool).convert("true").unwrap(),
            Value::Bool(true)
        );
        assert!(spec(ParamType::Duration).convert("10m").is_ok());
        assert!(spec(ParamType::Timestamp)
            .convert("2026-11-24T00:30:12+01:00")
            .is_ok());
        let e = spec(ParamType::Enum(vec!["a".into(), "b".into()]));
        assert!(e.convert("b").is_ok());
    }

    #[test]
    fn rejects_bad_values_saying_what_was_expected() {
        assert!(spec(ParamType::Int)
            .convert("x")
            .unwrap_err()
            .contains("expected an integer"));
        assert!(spec(ParamType::Bool).convert("yes").is_err());
        assert!(spec(ParamType::Duration).convert("soon").is_err());
        let no_offset = spec(ParamType::Timestamp).convert("2026-11-24T00:30:12");
        assert!(no_offset.unwrap_err().contains("RFC 3339"));
        let e = spec(ParamType::Enum(vec!["a".into()]));
        assert!(e.convert("z").unwrap_err().contains("one of a"));
    }

    #[test]
    fn pattern_is_enforced() {
        let mut s = spec(ParamType::String);
        s.pattern = Some(Regex::new("^[a-z]+$").unwrap());
        assert!(s.convert("abc").is_ok());
        assert!(s.convert("ABC").unwrap_err().contains("pattern"));
    }

    #[test]
    fn missing_required_param_points_at_declaration() {
        let err = resolve(
            "rb.yaml",
            &[spec(ParamType::String)],
            Pos::new(1, 1),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rb.yaml:4:5: missing required param `p` (string): pass -p p=VALUE"
        );
    }

    #[test]
    fn unknown_param_is_rejected() {
        let given = BTreeMap::from([("q".to_string(), "1".to_string()), ("p".into(), "x".into())]);
        let err = resolve(
            "rb.yaml",
            &[spec(ParamType::String)],
            Pos::new(1, 7),
            &given,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("rb.yaml:1:7: unknown param `q`"),
            "{err}"
        );
    }

    #[test]
    fn parse_pairs_requires_equals_and_unique_keys() {
        assert!(parse_pairs(&["a=1".into(), "b=x=y".into()]).unwrap()["b"] == "x=y");
        assert!(parse_pairs(&["a".into()]).is_err());
        assert!(parse_pairs(&["a=1".into(), "a=2".into()]).is_err());
    }
}
