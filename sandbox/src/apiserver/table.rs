//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for (`Accept: ...;as=Table`),
//! with Name and Age, and a CRD's additionalPrinterColumns.
use serde_json::{json, Value};

use super::registry::ResourceType;
use super::request::Query;

/// kube's short human duration ("45s", "3m", "5h", "2d").
pub fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok()) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 3600 * 48 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn column(name: &str, ty: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// Evaluates the simple JSONPath (`.status.phase`, `.spec.instances`) printer columns use.
fn cell(obj: &Value, path: &str, ty: &str) -> Value {
    let mut cur = obj;
    for seg in path.trim_start_matches('.').split('.') {
        cur = cur.get(seg).unwrap_or(&Value::Null);
    }
    match (ty, cur) {
        ("date", Value::String(s)) => json!(age(Some(s))),
        (_, Value::Null) => json!(""),
        (_, v) => v.clone(),
    }
}

pub fn table(rt: &ResourceType, items: &[Value], rv: &Value, q: &Query) -> Value {
    let mut cols = vec![column(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
        0,
    )];
    let printer = rt
        .crd
        .map(|c| c.printer_columns.as_slice())
        .unwrap_or_default();
    for pc in printer {
        cols.push(column(
            &pc.name,
            &pc.type_,
            &pc.format,
            &pc.description,
            pc.priority as i64,
        ));
    }
    let builtin = if rt.is_custom() {
        &[][..]
    } else {
        super::columns::builtin(&rt.plural)
    };
    for (name, _) in builtin {
        cols.push(column(name, "string", "", "", 0));
    }
    if !printer.iter().any(|pc| pc.name == "Age") {
        cols.push(column("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0));
    }
    let include = q.get("includeObject").unwrap_or("Metadata");
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            for pc in printer {
                cells.push(cell(o, &pc.json_path, &pc.type_));
            }
            for (_, f) in builtin {
                cells.push(f(o));
            }
            if !printer.iter().any(|pc| pc.name == "Age") {
                cells.push(json!(age(o.pointer("/metadata/creationTimestamp").and_then(Value::as_str))));
            }
            let object = match include {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": cols, "rows": rows})
}
