//! Annotation tracking, Argo CD 3.x's default: every resource an Application applies carries
//! `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`, and a live object
//! belongs to the app only when that annotation names the app *and* the object itself (a copy
//! on a child, e.g. a ReplicaSet inheriting its Deployment's annotations, does not count).
use serde_json::{json, Value};

pub const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";

/// The app's name in tracking ids: `<name>`, or `<namespace>_<name>` outside `argocd`.
pub fn app_key(app: &Value) -> String {
    let name = app["metadata"]["name"].as_str().unwrap_or_default();
    match app["metadata"]["namespace"].as_str() {
        Some(ns) if ns != "argocd" && !ns.is_empty() => format!("{ns}_{name}"),
        _ => name.to_string(),
    }
}

/// The tracking id of one object.
pub fn id(app_key: &str, group: &str, kind: &str, ns: &str, name: &str) -> String {
    format!("{app_key}:{group}/{kind}:{ns}/{name}")
}

/// Group and version of a manifest's `apiVersion`.
pub fn group_version(doc: &Value) -> (String, String) {
    let av = doc["apiVersion"].as_str().unwrap_or_default();
    match av.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), av.to_string()),
    }
}

fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The id `doc` (a manifest or a live object) would carry for `app_key`.
pub fn id_of(app_key: &str, doc: &Value) -> String {
    let (group, _) = group_version(doc);
    id(
        app_key,
        &group,
        text(doc, "/kind"),
        text(doc, "/metadata/namespace"),
        text(doc, "/metadata/name"),
    )
}

/// Writes the tracking annotation on a manifest (its namespace already set).
pub fn mark(app_key: &str, doc: &mut Value) {
    let id = id_of(app_key, doc);
    if !doc["metadata"]["annotations"].is_object() {
        doc["metadata"]["annotations"] = json!({});
    }
    doc["metadata"]["annotations"][TRACKING_ID] = json!(id);
}

/// Whether the live object is tracked by the app: its annotation is the app's id for it.
pub fn tracked(app_key: &str, live: &Value) -> bool {
    live.pointer("/metadata/annotations")
        .and_then(|a| a.get(TRACKING_ID))
        .and_then(Value::as_str)
        .is_some_and(|got| got == id_of(app_key, live))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_tracked_only_by_its_own_id() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}});
        mark("web", &mut cm);
        assert_eq!(
            cm["metadata"]["annotations"][TRACKING_ID],
            "web:/ConfigMap:ns/x"
        );
        assert!(tracked("web", &cm) && !tracked("other", &cm));
        let mut copy = cm.clone();
        copy["metadata"]["name"] = json!("x-123");
        assert!(!tracked("web", &copy), "an annotation copied to a child");
        let app = json!({"metadata": {"name": "a", "namespace": "team"}});
        assert_eq!(app_key(&app), "team_a");
    }
}
