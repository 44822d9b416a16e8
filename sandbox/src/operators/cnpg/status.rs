//! The Cluster status as CNPG writes it: phase strings verbatim, instance counts, primary,
//! services, image, conditions (section 2 of the reference).
use serde_json::{json, Map, Value};

use super::cluster::ClusterView;

pub const PHASE_SETTING_UP: &str = "Setting up primary";
pub const PHASE_WAITING: &str = "Waiting for the instances to become active";
pub const PHASE_HEALTHY: &str = "Cluster in healthy state";

/// What the operator saw on the server.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub system_id: Option<String>,
    /// The archiver's state: None before its first attempt (or without archiving).
    pub archiving: Option<(bool, String)>,
    /// The server's timeline (2 after a point-in-time recovery).
    pub timeline: Option<u64>,
}

/// Where the bootstrap of a cluster stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    SettingUp,
    Waiting,
    Healthy,
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A timestamp already in the status, or now.
fn kept(c: &ClusterView, key: &str) -> String {
    c.status[key].as_str().map(String::from).unwrap_or_else(now)
}

/// A condition; its transition time is kept while its status does not change.
fn condition(c: &ClusterView, kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let old = c.status["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["type"] == kind));
    let since = old
        .filter(|o| o["status"] == status)
        .and_then(|o| o["lastTransitionTime"].as_str().map(String::from))
        .unwrap_or_else(now);
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": since})
}

/// The status fields the sandbox owns, for `stage`.
pub fn desired(c: &ClusterView, stage: Stage, seen: &Observed) -> Map<String, Value> {
    let healthy = stage == Stage::Healthy;
    let names: Vec<String> = (1..=c.instances).map(|s| c.instance_name(s)).collect();
    let ready = if healthy { c.instances } else { 0 };
    let (phase, reason) = match stage {
        Stage::SettingUp => (
            PHASE_SETTING_UP,
            format!("Creating primary instance {}", c.primary()),
        ),
        Stage::Waiting => (PHASE_WAITING, String::new()),
        Stage::Healthy => (PHASE_HEALTHY, String::new()),
    };
    let mut s = json!({
        "phase": phase, "phaseReason": reason,
        "instances": c.instances, "readyInstances": ready, "instanceNames": names,
        "instancesStatus": if healthy { json!({"healthy": names}) } else { json!({}) },
        "targetPrimary": c.primary(), "targetPrimaryTimestamp": kept(c, "targetPrimaryTimestamp"),
        "latestGeneratedNode": c.instances,
        "writeService": format!("{}-rw", c.name), "readService": format!("{}-r", c.name),
        "image": c.image,
        "pvcCount": c.instances, "healthyPVC": if healthy { json!(names) } else { json!([]) },
        "conditions": [
            if healthy { condition(c, "Ready", true, "ClusterIsReady", "Cluster is Ready") }
            else { condition(c, "Ready", false, "ClusterIsNotReady", "Cluster Is Not Ready") },
        ],
    });
    if let Some(major) = c.image_major() {
        s["pgDataImageInfo"] = json!({"image": c.image, "majorVersion": major});
    }
    if stage != Stage::SettingUp {
        s["currentPrimary"] = json!(c.primary());
        s["currentPrimaryTimestamp"] = json!(kept(c, "currentPrimaryTimestamp"));
        s["timelineID"] = json!(seen.timeline.unwrap_or(1));
    }
    if let Some(id) = &seen.system_id {
        s["systemID"] = json!(id);
    }
    if let (Some((ok, msg)), Some(list)) = (&seen.archiving, s["conditions"].as_array_mut()) {
        let reason = if *ok {
            "ContinuousArchivingSuccess"
        } else {
            "ContinuousArchivingFailing"
        };
        list.push(condition(c, "ContinuousArchiving", *ok, reason, msg));
    }
    // Conditions other operators' steps own (e.g. LastBackupSucceeded) are kept.
    if let (Some(old), Some(list)) = (
        c.status["conditions"].as_array(),
        s["conditions"].as_array_mut(),
    ) {
        let mine = ["Ready", "ContinuousArchiving"];
        list.extend(
            old.iter()
                .filter(|o| !mine.iter().any(|m| o["type"] == *m))
                .cloned(),
        );
    }
    match s {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Whether writing `desired` would change the current status.
pub fn differs(current: &Value, desired: &Map<String, Value>) -> bool {
    desired.iter().any(|(k, v)| &current[k] != v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(status: Value) -> ClusterView {
        ClusterView::parse(&json!({"metadata": {"namespace": "n", "name": "c"},
            "spec": {"instances": 1, "imageName": "ghcr.io/cloudnative-pg/postgresql:15.6"}, "status": status}))
    }

    #[test]
    fn healthy_status_reads_as_cnpg() {
        let d = desired(
            &cluster(Value::Null),
            Stage::Healthy,
            &Observed {
                system_id: Some("7".into()),
                archiving: None,
                timeline: Some(2),
            },
        );
        assert_eq!(d["phase"], "Cluster in healthy state");
        assert_eq!(d["readyInstances"], 1);
        assert_eq!(d["currentPrimary"], "c-1");
        assert_eq!(d["conditions"][0]["reason"], "ClusterIsReady");
        assert_eq!(d["pgDataImageInfo"]["majorVersion"], 15);
        assert_eq!(d["systemID"], "7");
        assert_eq!(d["timelineID"], 2);
    }

    #[test]
    fn rewriting_the_same_stage_changes_nothing() {
        let none = Observed::default();
        let first = desired(&cluster(Value::Null), Stage::SettingUp, &none);
        let c = cluster(Value::Object(first.clone()));
        let again = desired(&c, Stage::SettingUp, &none);
        assert!(!differs(&c.status, &again));
        assert!(differs(&c.status, &desired(&c, Stage::Healthy, &none)));
        assert!(first.get("currentPrimary").is_none());
    }
}
