//! A refresh: the live state compared with "Git". Each desired resource (hooks excluded, as in
//! Argo CD) is Synced when every field Git sets has that value live, OutOfSync when it differs
//! or is missing; a tracked live object Git no longer holds is OutOfSync and requires pruning.
//! The result is written as `status.sync`, `status.health`, `status.resources` and
//! `status.reconciledAt`, and only when it changed or an operation finished since the last
//! refresh (so the controller's own writes do not loop).
use serde_json::{json, Value};

use super::target::Target;
use super::{hooks, tracking};
use crate::cluster::{now, Cluster};

/// Whether every field `desired` sets has that value in `live` (arrays element by element).
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| dv.is_null() || l.get(k).is_some_and(|lv| contains(lv, dv))),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv))
        }
        (Value::Number(l), Value::Number(d)) => l.as_f64() == d.as_f64(),
        (l, d) => l == d,
    }
}

/// The health of one live resource, if Argo CD has a check for its kind.
fn health_of(kind: &str, live: Option<&Value>) -> Option<&'static str> {
    let Some(live) = live else {
        return Some("Missing");
    };
    if kind != "Deployment" {
        return None;
    }
    let n = |p: &str| live.pointer(p).and_then(Value::as_i64);
    if live.pointer("/spec/paused") == Some(&json!(true)) {
        return Some("Suspended");
    }
    let want = n("/spec/replicas").unwrap_or(1);
    let observed =
        n("/status/observedGeneration").unwrap_or(0) >= n("/metadata/generation").unwrap_or(0);
    let updated = n("/status/updatedReplicas").unwrap_or(0);
    let available = n("/status/availableReplicas").unwrap_or(0);
    Some(if observed && updated >= want && available >= want {
        "Healthy"
    } else {
        "Progressing"
    })
}

/// Argo CD's order of health, best first: the app takes its worst resource's.
const HEALTH_ORDER: [&str; 6] = [
    "Healthy",
    "Suspended",
    "Progressing",
    "Missing",
    "Degraded",
    "Unknown",
];

fn worse(a: &'static str, b: &'static str) -> &'static str {
    let rank = |h| HEALTH_ORDER.iter().position(|x| *x == h).unwrap_or(5);
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// What a refresh found.
pub struct Comparison {
    pub status: &'static str,
    pub revision: String,
    pub health: &'static str,
    /// `status.resources[]`: one entry per desired or prunable resource.
    pub resources: Vec<Value>,
}

impl Comparison {
    /// The desired resources that are not Synced (a self-heal syncs only these).
    pub fn out_of_sync(&self) -> Vec<Value> {
        self.resources
            .iter()
            .filter(|r| r["status"] != "Synced")
            .map(|r| json!({"group": r["group"], "kind": r["kind"], "name": r["name"]}))
            .collect()
    }
}

/// The desired, non-hook resources of the app, placed (`Err`: "Git" cannot be read).
pub fn targets(api: &Cluster, app: &Value) -> Result<(Vec<Target>, String), String> {
    let (docs, revision) = super::source(api, app)?;
    let key = tracking::app_key(app);
    let ns = dest_namespace(app);
    let targets = docs
        .into_iter()
        .filter(|d| hooks::phases(d).is_empty())
        .map(|d| Target::new(api, &key, d, &ns))
        .collect();
    Ok((targets, revision))
}

pub fn dest_namespace(app: &Value) -> String {
    app.pointer("/spec/destination/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string()
}

/// Compares the app's "Git" with the live objects (extras among the types the world caches).
pub fn compare(api: &Cluster, app: &Value) -> Comparison {
    let Ok((targets, revision)) = targets(api, app) else {
        return Comparison {
            status: "Unknown",
            revision: String::new(),
            health: "Unknown",
            resources: vec![],
        };
    };
    let (mut status, mut health) = ("Synced", "Healthy");
    let mut resources = vec![];
    for t in &targets {
        let live = t.live(api);
        let synced = live.as_ref().is_some_and(|l| contains(l, &t.doc));
        let mut r = t.entry();
        r["status"] = json!(if synced { "Synced" } else { "OutOfSync" });
        if let Some(h) = health_of(&t.kind, live.as_ref()) {
            r["health"] = json!({"status": h});
            health = worse(health, h);
        }
        if !synced {
            status = "OutOfSync";
        }
        resources.push(r);
    }
    for extra in super::prune::extras(api, app, &targets, true) {
        status = "OutOfSync";
        let mut r = extra.entry();
        r["status"] = json!("OutOfSync");
        r["requiresPruning"] = json!(true);
        resources.push(r);
    }
    Comparison {
        status,
        revision,
        health,
        resources,
    }
}

/// Compares and writes the result when it changed or an operation ended since the last one.
pub fn refresh(api: &Cluster, app: &Value) -> Comparison {
    let c = compare(api, app);
    let st = &app["status"];
    let finished = st
        .pointer("/operationState/finishedAt")
        .and_then(Value::as_str);
    let reconciled = st.get("reconciledAt").and_then(Value::as_str);
    let stale = match (reconciled, finished) {
        (None, _) => true,
        (Some(r), Some(f)) => r < f,
        (Some(_), None) => false,
    };
    let changed = st.pointer("/sync/status") != Some(&json!(c.status))
        || st.pointer("/sync/revision") != Some(&json!(c.revision))
        || st.pointer("/health/status") != Some(&json!(c.health))
        || st.get("resources") != Some(&json!(c.resources));
    if changed || stale {
        let mut health = json!({"status": c.health});
        if st.pointer("/health/status") != Some(&json!(c.health)) {
            health["lastTransitionTime"] = json!(now());
        }
        let patch = json!({"status": {
            "sync": {"status": c.status, "revision": c.revision,
                "comparedTo": {"source": app["spec"]["source"], "destination": app["spec"]["destination"]}},
            "health": health, "resources": c.resources, "reconciledAt": now()}});
        super::write(api, app, &patch);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_defaults_do_not_drift_but_changed_fields_do() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web"}]}}}});
        let mut live = json!({"spec": {"replicas": 2, "strategy": {}, "template": {"spec": {"containers": [{"name": "web", "imagePullPolicy": "Always"}]}}}});
        assert!(contains(&live, &desired));
        live["spec"]["replicas"] = json!(0);
        assert!(!contains(&live, &desired));
        assert_eq!(worse("Healthy", "Missing"), "Missing");
        assert_eq!(worse("Degraded", "Progressing"), "Degraded");
    }
}
