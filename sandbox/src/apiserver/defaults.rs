//! Defaults the real API server fills in for the built-in types (the ones cnpgops relies on).
use serde_json::{json, Value};

use super::registry::ResourceType;

fn default(v: &mut Value, key: &str, value: Value) {
    if v.is_null() {
        *v = json!({});
    }
    if v.is_object() && v.get(key).is_none_or(Value::is_null) {
        v[key] = value;
    }
}

/// Defaults and initial status for a new object of a built-in type.
pub fn on_create(rt: &ResourceType, obj: &mut Value, uid: &str) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            default(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        }
        ("", "pods") => {
            pod_spec(&mut obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        ("batch", "jobs") => job(obj, uid),
        ("apps", "deployments") => {
            let spec = &mut obj["spec"];
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("batch", "cronjobs") => {
            let spec = &mut obj["spec"];
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
        }
        ("", "services") => {
            let spec = &mut obj["spec"];
            default(spec, "type", json!("ClusterIP"));
            default(spec, "sessionAffinity", json!("None"));
            let n = rand::random::<u16>();
            default(
                spec,
                "clusterIP",
                json!(format!("10.96.{}.{}", n >> 8, (n & 0xff).max(1))),
            );
        }
        _ => {}
    }
    on_update(rt, obj);
}

/// Defaults applied on every write (create and update).
pub fn on_update(rt: &ResourceType, obj: &mut Value) {
    let data_ok = obj.get("data").is_none_or(|d| d.is_object() || d.is_null());
    if (rt.group.as_str(), rt.plural.as_str()) == ("", "secrets") && data_ok {
        default(obj, "type", json!("Opaque"));
        if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|o| o.remove("stringData")) {
            use base64::Engine;
            for (k, v) in sd {
                let plain = v.as_str().unwrap_or_default();
                obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(plain));
            }
        }
    }
}

fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "securityContext", json!({}));
    if let Some(cs) = spec["containers"].as_array_mut() {
        for c in cs {
            default(c, "terminationMessagePath", json!("/dev/termination-log"));
            default(c, "terminationMessagePolicy", json!("File"));
            default(c, "imagePullPolicy", json!("IfNotPresent"));
            default(c, "resources", json!({}));
        }
    }
}

/// Jobs get a selector on their own uid and matching template labels, as batch/v1 does.
fn job(obj: &mut Value, uid: &str) {
    let name = obj["metadata"]["name"].clone();
    let spec = &mut obj["spec"];
    default(spec, "backoffLimit", json!(6));
    default(spec, "completions", json!(1));
    default(spec, "parallelism", json!(1));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    if spec.get("manualSelector") != Some(&json!(true)) {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        let labels = &mut spec["template"]["metadata"]["labels"];
        labels["batch.kubernetes.io/controller-uid"] = json!(uid);
        labels["controller-uid"] = json!(uid);
        labels["batch.kubernetes.io/job-name"] = name.clone();
        labels["job-name"] = name;
    }
    pod_spec(&mut spec["template"]["spec"]);
}
