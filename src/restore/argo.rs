//! The Argo CD Application managing an object: its `argocd.argoproj.io/tracking-id` annotation
//! (`<app>:<group>/<kind>:<namespace>/<name>`, annotation tracking) or its
//! `app.kubernetes.io/instance` label (label tracking, Argo CD's older default).

use serde_json::Value;

pub(crate) const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
pub(crate) const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// The managing Application's name, if the object says it has one.
pub(crate) fn managing_app(object: &Value) -> Option<String> {
    let meta = &object["metadata"];
    if let Some(id) = meta["annotations"][TRACKING_ID].as_str() {
        let app = id.split(':').next().unwrap_or_default();
        // `<namespace>_<app>` when Applications live in several namespaces.
        let app = app.rsplit('_').next().unwrap_or(app);
        if !app.is_empty() {
            return Some(app.to_string());
        }
    }
    meta["labels"][INSTANCE_LABEL]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_annotation_wins_over_the_label() {
        let tracked = json!({"metadata": {
            "annotations": {TRACKING_ID: "web-prod:postgresql.cnpg.io/Cluster:databases/db"},
            "labels": {INSTANCE_LABEL: "other"}}});
        assert_eq!(managing_app(&tracked).as_deref(), Some("web-prod"));
        let ns_app = json!({"metadata": {"annotations": {TRACKING_ID: "argocd_web:/Secret:x/y"}}});
        assert_eq!(managing_app(&ns_app).as_deref(), Some("web"));
        let labelled = json!({"metadata": {"labels": {INSTANCE_LABEL: "web-dev"}}});
        assert_eq!(managing_app(&labelled).as_deref(), Some("web-dev"));
        assert_eq!(managing_app(&json!({"metadata": {}})), None);
    }
}
