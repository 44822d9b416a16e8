//! Dropping of non-nullable `null`s and application of schema `default`s (kube's structural defaulting).

use serde_json::Value;

use super::structural::{Additional, Node};

/// kube's `PruneNonNullableNullsWithoutDefaults`: removes object keys whose value is
/// `null` when their schema is neither `nullable` nor has a `default` (those get the
/// default in [`apply`]). `null` array items are left for validation to report.
pub(crate) fn prune_nulls(x: &mut Value, s: &Node) {
    match x {
        Value::Object(map) => {
            map.retain(|k, v| match s.child(k) {
                Some(child) => !(v.is_null() && !child.nullable && child.default.is_none()),
                None => true,
            });
            for (k, v) in map.iter_mut() {
                if let Some(child) = s.child(k) {
                    prune_nulls(v, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for item in items {
                    prune_nulls(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// kube's structural `Default`: in every object that exists, a missing key (or a
/// non-nullable `null`) whose schema has a `default` gets a copy of it; then every
/// value, including the defaulted ones, is defaulted recursively. Array items and
/// `additionalProperties` values are defaulted with their schema.
pub(crate) fn apply(x: &mut Value, s: &Node) {
    match x {
        Value::Object(map) => {
            for (k, prop) in &s.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                let missing = match map.get(k) {
                    None => true,
                    Some(v) => is_non_nullable_null(v, prop),
                };
                if missing {
                    map.insert(k.clone(), default.clone());
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    apply(v, prop);
                } else if let Additional::Schema(value_schema) = &s.additional {
                    default_null(v, value_schema);
                    apply(v, value_schema);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for item in items {
                    default_null(item, item_schema);
                    apply(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// Integral floats (`1.0`) become integers, as kube's decode/encode round trip does
/// (Go's JSON encoder prints `float64(1)` as `1`).
pub(crate) fn normalize_numbers(x: &mut Value) {
    match x {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                // The range check makes the cast exact.
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *x = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

fn is_non_nullable_null(v: &Value, s: &Node) -> bool {
    v.is_null() && !s.nullable
}

fn default_null(v: &mut Value, s: &Node) {
    if is_non_nullable_null(v, s) {
        if let Some(default) = &s.default {
            *v = default.clone();
        }
    }
}
