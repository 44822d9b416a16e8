//! Validation against the OpenAPI v3 schema (via the `jsonschema` crate), with errors mapped to kube-apiserver's causes.
//!
//! The `openAPIV3Schema` is converted to a draft-4 JSON Schema: `nullable: true` adds
//! `null` to the allowed types, `x-kubernetes-int-or-string` becomes
//! `type: [integer, string]` (controller-gen's `anyOf` is kept, as kube does),
//! `x-kubernetes-*`, `description`, `default`, `example` are dropped, and of the
//! string formats only `date-time` and `byte` are checked (as kube-openapi's `strfmt`
//! does); the root `metadata` is only checked to be an object. Patterns use the
//! `regex` crate (RE2 syntax, like Go).
//!
//! Messages follow kube-openapi + `apimachinery/pkg/util/validation/field`, e.g.
//! `Invalid value: "string": spec.instances in body must be of type integer: "string"`.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::{json, Map, Value};

use super::Cause;

const TYPE_INVALID: &str = "FieldValueTypeInvalid";
const REQUIRED: &str = "FieldValueRequired";
const NOT_SUPPORTED: &str = "FieldValueNotSupported";
const INVALID: &str = "FieldValueInvalid";
const TOO_LONG: &str = "FieldValueTooLong";
const TOO_MANY: &str = "FieldValueTooMany";

/// Compiles the validator of an `openAPIV3Schema`.
pub(crate) fn compile(open_api_v3_schema: &Value) -> Result<Validator, String> {
    let mut schema = convert(open_api_v3_schema);
    if let Some(meta) = schema.pointer_mut("/properties/metadata") {
        *meta = json!({"type": "object"});
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .with_format("date-time", is_date_time)
        .with_format("byte", is_base64)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(&schema)
        .map_err(|e| e.to_string())
}

/// OpenAPI v3 (kube flavour) → JSON Schema draft 4.
fn convert(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool) == Some(true);
    let mut out = Map::new();
    for (k, v) in obj {
        let converted = match k.as_str() {
            "properties" | "patternProperties" | "definitions" => match v.as_object() {
                Some(props) => Value::Object(
                    props
                        .iter()
                        .map(|(name, s)| (name.clone(), convert(s)))
                        .collect(),
                ),
                None => v.clone(),
            },
            "items" | "additionalProperties" | "additionalItems" | "not" => match v {
                Value::Array(list) => Value::Array(list.iter().map(convert).collect()),
                other => convert(other),
            },
            "allOf" | "anyOf" | "oneOf" => match v.as_array() {
                Some(list) => Value::Array(list.iter().map(convert).collect()),
                None => v.clone(),
            },
            "type" | "enum" | "required" | "minimum" | "maximum" | "exclusiveMinimum"
            | "exclusiveMaximum" | "multipleOf" | "minLength" | "maxLength" | "pattern"
            | "minItems" | "maxItems" | "uniqueItems" | "minProperties" | "maxProperties" => {
                v.clone()
            }
            "format" if matches!(v.as_str(), Some("date-time" | "byte")) => v.clone(),
            _ => continue,
        };
        out.insert(k.clone(), converted);
    }
    if flag("x-kubernetes-int-or-string") && !out.contains_key("type") {
        out.insert("type".into(), json!(["integer", "string"]));
    }
    if flag("nullable") {
        match out.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                out.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) => types.push(json!("null")),
            _ => {}
        }
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    Value::Object(out)
}

/// Validates `instance`; returns kube's causes sorted by field (then message).
pub(crate) fn validate(validator: &Validator, instance: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for err in validator.iter_errors(instance) {
        map_error(&err, instance, &mut causes);
    }
    causes.sort_by(|a, b| (&a.field, &a.message).cmp(&(&b.field, &b.message)));
    causes.dedup();
    causes
}

fn map_error(err: &ValidationError<'_>, root: &Value, out: &mut Vec<Cause>) {
    let field = kube_path(root, err.instance_path.as_str());
    let value: &Value = &err.instance;
    let invalid = |detail: String| {
        let message = format!("Invalid value: {}: {field} in body {detail}", show(value));
        (INVALID, message)
    };
    let (reason, message) = match &err.kind {
        ValidationErrorKind::Type { kind } => {
            let actual = quote(json_type(value));
            let message = format!(
                "Invalid value: {actual}: {field} in body must be of type {}: {actual}",
                type_names(kind)
            );
            (TYPE_INVALID, message)
        }
        ValidationErrorKind::Format { format } => {
            let v = show(value);
            let message =
                format!("Invalid value: {v}: {field} in body must be of type {format}: {v}");
            (TYPE_INVALID, message)
        }
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            out.push(cause(
                REQUIRED,
                "Required value".into(),
                child(&field, &name),
            ));
            return;
        }
        ValidationErrorKind::Enum { options } => {
            let supported: Vec<String> = match options {
                Value::Array(values) => values.iter().map(enum_value).collect(),
                other => vec![enum_value(other)],
            };
            let message = format!(
                "Unsupported value: {}: supported values: {}",
                show(value),
                supported.join(", ")
            );
            (NOT_SUPPORTED, message)
        }
        ValidationErrorKind::Minimum { limit } => invalid(format!(
            "should be greater than or equal to {}",
            number(limit)
        )),
        ValidationErrorKind::Maximum { limit } => {
            invalid(format!("should be less than or equal to {}", number(limit)))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            invalid(format!("should be greater than {}", number(limit)))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            invalid(format!("should be less than {}", number(limit)))
        }
        ValidationErrorKind::MultipleOf { multiple_of } => invalid(format!(
            "should be a multiple of {}",
            number(&json!(multiple_of))
        )),
        ValidationErrorKind::MinLength { limit } => {
            invalid(format!("should be at least {limit} chars long"))
        }
        ValidationErrorKind::MaxLength { limit } => (
            TOO_LONG,
            format!("Too long: may not be more than {limit} bytes"),
        ),
        ValidationErrorKind::Pattern { pattern } => invalid(format!("should match '{pattern}'")),
        ValidationErrorKind::MinItems { limit } => {
            let len = value.as_array().map_or(0, Vec::len);
            let message =
                format!("Invalid value: {len}: {field} in body should have at least {limit} items");
            (INVALID, message)
        }
        ValidationErrorKind::MaxItems { limit } => {
            let len = value.as_array().map_or(0, Vec::len);
            (
                TOO_MANY,
                format!("Too many: {len}: must have at most {limit} items"),
            )
        }
        ValidationErrorKind::MaxProperties { limit } => {
            let len = value.as_object().map_or(0, Map::len);
            (
                TOO_MANY,
                format!("Too many: {len}: must have at most {limit} items"),
            )
        }
        ValidationErrorKind::MinProperties { limit } => (
            INVALID,
            format!("Invalid value: \"\": {field} in body should have at least {limit} properties"),
        ),
        ValidationErrorKind::UniqueItems => (
            INVALID,
            format!("Invalid value: \"\": {field} in body shouldn't contain duplicates"),
        ),
        ValidationErrorKind::AnyOf { context } => {
            composite(&field, "must validate at least one schema (anyOf)", out);
            best_branch(context, root, out);
            return;
        }
        ValidationErrorKind::OneOfNotValid { context } => {
            composite(&field, "must validate one and only one schema (oneOf)", out);
            best_branch(context, root, out);
            return;
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            composite(&field, "must validate one and only one schema (oneOf)", out);
            return;
        }
        ValidationErrorKind::Not { .. } => {
            composite(&field, "must not validate the schema (not)", out);
            return;
        }
        _ => (INVALID, format!("Invalid value: {}: {err}", show(value))),
    };
    out.push(cause(reason, message, field));
}

/// kube reports composite (anyOf/oneOf/not) failures without a field path (`<nil>`).
fn composite(field: &str, what: &str, out: &mut Vec<Cause>) {
    let message = format!("Invalid value: \"\": \"{field}\" {what}");
    out.push(cause(INVALID, message, "<nil>".into()));
}

/// Like go-openapi, also reports the errors of the first branch with the fewest errors.
fn best_branch(context: &[Vec<ValidationError<'static>>], root: &Value, out: &mut Vec<Cause>) {
    if let Some(branch) = context.iter().min_by_key(|errors| errors.len()) {
        for err in branch {
            map_error(err, root, out);
        }
    }
}

fn cause(reason: &str, message: String, field: String) -> Cause {
    Cause {
        reason: reason.to_owned(),
        message,
        field,
    }
}

/// A JSON pointer into `root` as a kube field path: `spec.containers[0].name`.
fn kube_path(root: &Value, pointer: &str) -> String {
    let mut path = String::new();
    let mut current = Some(root);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        if let Some(Value::Array(items)) = current {
            if let Ok(i) = segment.parse::<usize>() {
                path.push_str(&format!("[{i}]"));
                current = items.get(i);
                continue;
            }
        }
        current = current.and_then(|v| v.get(segment.as_str()));
        path = child(&path, &segment);
    }
    path
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The expected types as kube lists them (`integer,string`); `null` from `nullable` is not shown.
fn type_names(kind: &TypeKind) -> String {
    let types: Vec<JsonType> = match kind {
        TypeKind::Single(t) => vec![*t],
        TypeKind::Multiple(set) => set.iter().collect(),
    };
    let names: Vec<String> = types
        .iter()
        .filter(|t| **t != JsonType::Null || types.len() == 1)
        .map(ToString::to_string)
        .collect();
    names.join(",")
}

/// A value as kube's `field.Error` prints it: strings quoted, numbers/booleans bare,
/// `null` as `"null"`, objects and arrays as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::Null => quote("null"),
        Value::String(s) => quote(s),
        Value::Number(_) => number(v),
        other => other.to_string(),
    }
}

/// An allowed enum value as kube's `NotSupported` lists it: always quoted.
fn enum_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        other => quote(&other.to_string()),
    }
}

/// A number as Go's `%v` prints it (integral floats without a fraction).
fn number(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => v.to_string(),
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// kube-openapi's `strfmt.IsDateTime`: `YYYY-MM-DD` `T` `hh:mm:ss[.frac](Z|±hh:mm)`,
/// case-insensitive.
fn is_date_time(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let Some((date, time)) = lower.split_once('t') else {
        return false;
    };
    is_date(date) && is_time(time)
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || !b.is_ascii() || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (s[0..4].parse(), s[5..7].parse(), s[8..10].parse()) else {
        return false;
    };
    digits(&s[0..4]) && chrono::NaiveDate::from_ymd_opt(y, m, d).is_some()
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 9 || !b[..8].is_ascii() || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let (hh, mm, ss) = (&s[0..2], &s[3..5], &s[6..8]);
    if !(digits(hh) && digits(mm) && digits(ss) && hh <= "23" && mm <= "59" && ss <= "59") {
        return false;
    }
    let mut rest = &s[8..];
    if rest.len() > 1 && !rest.starts_with(['z', '+', '-']) {
        // `.` in the Go regexp matches any character before the fraction digits.
        let frac = &rest[rest.char_indices().nth(1).map_or(rest.len(), |(i, _)| i)..];
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let zb = rest.as_bytes();
    rest == "z"
        || (zb.len() == 6
            && (zb[0] == b'+' || zb[0] == b'-')
            && zb[3] == b':'
            && digits(&rest[1..3])
            && digits(&rest[4..6]))
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

fn is_base64(s: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}
