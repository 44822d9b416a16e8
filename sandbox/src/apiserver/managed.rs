//! Field ownership (`metadata.managedFields`) and server-side apply: who set which field,
//! conflicts between managers, and fields an applier stopped setting being removed.
use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::status::Cause;

/// A field path, as object keys from the root. Lists are owned whole (atomic).
pub type Path = Vec<String>;

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    subresource: Option<String>,
    api_version: String,
    time: String,
    fields: BTreeSet<Path>,
}

fn is_tracked_meta(key: &str) -> bool {
    matches!(
        key,
        "labels" | "annotations" | "finalizers" | "ownerReferences"
    )
}

/// Every leaf path of `obj` that field ownership tracks, for the main resource or `/status`.
pub fn leaves(obj: &Value, status: bool) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        let take = match k.as_str() {
            "apiVersion" | "kind" => false,
            "status" => status,
            "metadata" => !status,
            _ => !status,
        };
        if !take {
            continue;
        }
        if k == "metadata" {
            if let Some(m) = v.as_object() {
                for (mk, mv) in m.iter().filter(|(mk, _)| is_tracked_meta(mk)) {
                    collect(mv, vec!["metadata".into(), mk.clone()], &mut out);
                }
            }
        } else {
            collect(v, vec![k.clone()], &mut out);
        }
    }
    out
}

fn collect(v: &Value, path: Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                collect(child, p, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

pub fn get_path<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, k| cur.get(k))
}

fn remove_path(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for k in parents {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for k in p {
            let entry = cur.entry(format!("f:{k}")).or_insert_with(|| json!({}));
            cur = entry.as_object_mut().expect("fieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, prefix: Path, out: &mut BTreeSet<Path>) {
    let Some(m) = v.as_object() else { return };
    let children: Vec<_> = m
        .iter()
        .filter_map(|(k, c)| k.strip_prefix("f:").map(|k| (k, c)))
        .collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix);
        }
        return;
    }
    for (k, c) in children {
        let mut p = prefix.clone();
        p.push(k.to_string());
        from_fields_v1(c, p, out);
    }
}

fn read(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return vec![];
    };
    list.iter()
        .map(|e| {
            let mut fields = BTreeSet::new();
            from_fields_v1(
                e.get("fieldsV1").unwrap_or(&Value::Null),
                vec![],
                &mut fields,
            );
            let s = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(String::from),
                api_version: s("apiVersion"),
                time: s("time"),
                fields,
            }
        })
        .collect()
}

fn write(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields)});
            if let Some(s) = e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if list.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(list);
    }
}

/// Who is writing: the field manager, the operation and the subresource.
pub struct Writer {
    pub manager: String,
    pub api_version: String,
    pub time: String,
    pub status: bool,
}

impl Writer {
    fn subresource(&self) -> Option<String> {
        self.status.then(|| "status".to_string())
    }

    fn entry<'e>(&self, entries: &'e mut Vec<Entry>, op: &str) -> &'e mut Entry {
        let sub = self.subresource();
        let pos = entries
            .iter()
            .position(|e| e.manager == self.manager && e.operation == op && e.subresource == sub);
        let i = pos.unwrap_or_else(|| {
            entries.push(Entry {
                manager: self.manager.clone(),
                operation: op.into(),
                subresource: sub,
                api_version: self.api_version.clone(),
                time: self.time.clone(),
                fields: BTreeSet::new(),
            });
            entries.len() - 1
        });
        let e = &mut entries[i];
        e.time = self.time.clone();
        e
    }

    /// Records an update (PUT / non-apply PATCH) from `old` to `new`: changed fields move to
    /// this manager, removed fields leave every manager.
    pub fn record_update(&self, old: Option<&Value>, new: &mut Value) {
        let mut entries = old.map(read).unwrap_or_default();
        let after = leaves(new, self.status);
        let changed: BTreeSet<Path> = after
            .iter()
            .filter(|p| old.and_then(|o| get_path(o, p)) != get_path(new, p))
            .cloned()
            .collect();
        for e in entries.iter_mut() {
            e.fields
                .retain(|p| after.contains(p) && !changed.contains(p));
        }
        self.entry(&mut entries, "Update").fields.extend(changed);
        write(new, entries);
    }

    /// Server-side apply of `config` onto `live` (None when the object is being created).
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        force: bool,
    ) -> Result<Value, Vec<Cause>> {
        let mut entries = live.map(read).unwrap_or_default();
        let applied = leaves(config, self.status);
        let base = live.cloned().unwrap_or_else(|| json!({}));
        let mut conflicts = vec![];
        let last_applied = last_applied(&base);
        for e in entries.iter().filter(|e| e.manager != self.manager) {
            for p in applied.iter().filter(|p| e.fields.contains(*p)) {
                // Upgrading from client-side apply: a field kubectl applied before, applied
                // now with the same value, changes hands without a conflict (as kube does).
                let upgrade = e.manager == CLIENT_SIDE_APPLY
                    && last_applied
                        .as_ref()
                        .is_some_and(|l| get_path(l, p) == get_path(config, p));
                if get_path(&base, p) != get_path(config, p) && !upgrade {
                    conflicts.push(Cause {
                        reason: "FieldManagerConflict".into(),
                        message: format!("conflict with \"{}\"", e.manager),
                        field: format!(".{}", p.join(".")),
                    });
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflicts);
        }
        let mut out = base.clone();
        json_patch::merge(&mut out, &strip_nulls(config));
        let previously: BTreeSet<Path> = entries
            .iter()
            .filter(|e| {
                e.manager == self.manager
                    && e.operation == "Apply"
                    && e.subresource == self.subresource()
            })
            .flat_map(|e| e.fields.clone())
            .collect();
        for p in previously.difference(&applied) {
            let others = entries.iter().any(|e| {
                !(e.manager == self.manager && e.operation == "Apply") && e.fields.contains(p)
            });
            if !others {
                remove_path(&mut out, p);
            }
        }
        for e in entries.iter_mut() {
            if !(e.manager == self.manager && e.operation == "Apply") {
                e.fields.retain(|p| {
                    !applied.contains(p) || !force && get_path(&base, p) == get_path(config, p)
                });
            }
        }
        let me = self.entry(&mut entries, "Apply");
        me.fields = applied;
        write(&mut out, entries);
        Ok(out)
    }
}

const CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";

/// The configuration `kubectl apply` (client-side) last applied, from its annotation.
fn last_applied(obj: &Value) -> Option<Value> {
    let text = obj
        .pointer("/metadata/annotations")?
        .get("kubectl.kubernetes.io/last-applied-configuration")?
        .as_str()?;
    serde_json::from_str(text).ok()
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(manager: &str) -> Writer {
        Writer {
            manager: manager.into(),
            api_version: "v1".into(),
            time: "2026-01-01T00:00:00Z".into(),
            status: false,
        }
    }

    #[test]
    fn apply_conflicts_with_other_manager_unless_forced() {
        let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let live = w("alice").apply(None, &cfg, false).unwrap();
        let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
        let causes = w("bob").apply(Some(&live), &bob, false).unwrap_err();
        assert_eq!(causes[0].field, ".data.a");
        assert_eq!(causes[0].message, "conflict with \"alice\"");
        let forced = w("bob").apply(Some(&live), &bob, true).unwrap();
        assert_eq!(forced["data"]["a"], "2");
        let managers: Vec<_> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, vec!["bob"]);
    }

    #[test]
    fn same_value_is_shared_not_a_conflict() {
        let cfg = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        let live = w("alice").apply(None, &cfg, false).unwrap();
        let out = w("bob").apply(Some(&live), &cfg, false).unwrap();
        assert_eq!(
            out["metadata"]["managedFields"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn fields_dropped_from_config_are_removed() {
        let live = w("a")
            .apply(None, &json!({"data": {"x": "1", "y": "2"}}), false)
            .unwrap();
        let out = w("a")
            .apply(Some(&live), &json!({"data": {"x": "1"}}), false)
            .unwrap();
        assert_eq!(out["data"], json!({"x": "1"}));
    }

    #[test]
    fn update_takes_ownership_of_changed_fields() {
        let live = w("a")
            .apply(None, &json!({"data": {"x": "1"}}), false)
            .unwrap();
        let mut new = live.clone();
        new["data"]["x"] = json!("2");
        w("kubectl-edit").record_update(Some(&live), &mut new);
        let causes = w("a")
            .apply(Some(&new), &json!({"data": {"x": "3"}}), false)
            .unwrap_err();
        assert_eq!(causes[0].message, "conflict with \"kubectl-edit\"");
    }
}
