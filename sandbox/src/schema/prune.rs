//! Pruning of unknown fields (kube's structural pruning), returning the dotted paths it dropped.

use serde_json::{Map, Value};

use super::structural::{Additional, Node};

/// The top-level `metav1.ObjectMeta` fields a custom resource may carry.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];

/// Prunes `object` (a whole resource) against `root`; returns the pruned paths, unsorted.
///
/// The root is an embedded resource: `apiVersion` and `kind` are always kept and
/// `metadata` keeps only ObjectMeta fields (its `null`s are dropped too, as decoding
/// into ObjectMeta would).
pub(crate) fn prune_root(object: &mut Value, root: &Node) -> Vec<String> {
    let mut pruned = Vec::new();
    let mut path = String::new();
    if let Value::Object(map) = object {
        if root.preserve_unknown {
            skip_prune_object(map, root, true, &mut path, &mut pruned);
        } else {
            prune_object(map, root, true, &mut path, &mut pruned);
        }
    }
    pruned
}

/// kube's `prune`: drops keys the schema does not know, recursing into known ones.
fn prune(x: &mut Value, s: &Node, path: &mut String, pruned: &mut Vec<String>) {
    if s.preserve_unknown {
        skip_prune(x, s, path, pruned);
        return;
    }
    match x {
        Value::Object(map) => prune_object(map, s, s.embedded, path, pruned),
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for (i, item) in items.iter_mut().enumerate() {
                    with_index(path, i, |path| prune(item, item_schema, path, pruned));
                }
            }
        }
        _ => {}
    }
}

fn prune_object(
    map: &mut Map<String, Value>,
    s: &Node,
    embedded: bool,
    path: &mut String,
    pruned: &mut Vec<String>,
) {
    let mut unknown = Vec::new();
    for (k, v) in map.iter_mut() {
        if embedded && (k == "apiVersion" || k == "kind") {
            continue;
        }
        if embedded && k == "metadata" {
            let meta_path = child_path(path, k);
            prune_meta(v, &meta_path, pruned);
            continue;
        }
        if let Some(child) = s.properties.get(k) {
            with_key(path, k, |path| prune(v, child, path, pruned));
            continue;
        }
        match &s.additional {
            Additional::Schema(child) => with_key(path, k, |path| prune(v, child, path, pruned)),
            Additional::Any => {}
            Additional::None => unknown.push(k.clone()),
        }
    }
    for k in unknown {
        map.remove(&k);
        pruned.push(child_path(path, &k));
    }
}

/// kube's `skipPrune` for `x-kubernetes-preserve-unknown-fields`: unknown keys stay,
/// known ones are still pruned below.
fn skip_prune(x: &mut Value, s: &Node, path: &mut String, pruned: &mut Vec<String>) {
    match x {
        Value::Object(map) => skip_prune_object(map, s, s.embedded, path, pruned),
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for (i, item) in items.iter_mut().enumerate() {
                    with_index(path, i, |path| skip_prune(item, item_schema, path, pruned));
                }
            }
        }
        _ => {}
    }
}

fn skip_prune_object(
    map: &mut Map<String, Value>,
    s: &Node,
    embedded: bool,
    path: &mut String,
    pruned: &mut Vec<String>,
) {
    for (k, v) in map.iter_mut() {
        if embedded && (k == "apiVersion" || k == "kind") {
            continue;
        }
        if embedded && k == "metadata" {
            prune_meta(v, &child_path(path, k), pruned);
            continue;
        }
        if let Some(child) = s.child(k) {
            with_key(path, k, |path| prune(v, child, path, pruned));
        }
    }
}

/// Keeps only ObjectMeta fields in `metadata` (and drops their `null`s).
fn prune_meta(meta: &mut Value, meta_path: &str, pruned: &mut Vec<String>) {
    let Value::Object(map) = meta else { return };
    map.retain(|k, v| {
        if OBJECT_META_FIELDS.contains(&k.as_str()) {
            !v.is_null()
        } else {
            pruned.push(format!("{meta_path}.{k}"));
            false
        }
    });
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn with_key(path: &mut String, key: &str, f: impl FnOnce(&mut String)) {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    f(path);
    path.truncate(len);
}

fn with_index(path: &mut String, i: usize, f: impl FnOnce(&mut String)) {
    let len = path.len();
    path.push('[');
    path.push_str(&i.to_string());
    path.push(']');
    f(path);
    path.truncate(len);
}
