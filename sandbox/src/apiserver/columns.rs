//! The printer columns kube-apiserver shows for the built-in types the sandbox serves (what
//! `kubectl get` prints between NAME and AGE).
use serde_json::{json, Value};

/// A column: its title and how a cell is computed from the object.
pub type Column = (&'static str, fn(&Value) -> Value);

fn int(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn text(o: &Value, p: &str) -> String {
    o.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn pod_ready(o: &Value) -> Value {
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    json!(format!("{ready}/{total}"))
}

fn pod_restarts(o: &Value) -> Value {
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    json!(statuses
        .iter()
        .map(|s| s["restartCount"].as_i64().unwrap_or(0))
        .sum::<i64>())
}

fn job_status(o: &Value) -> Value {
    let conds = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conds
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    json!(if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if o.pointer("/spec/suspend") == Some(&json!(true)) {
        "Suspended"
    } else {
        "Running"
    })
}

fn service_ports(o: &Value) -> Value {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
        .collect();
    json!(if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    })
}

/// The columns of a built-in resource (empty for the others).
pub fn builtin(plural: &str) -> &'static [Column] {
    match plural {
        "pods" => &[
            ("Ready", pod_ready),
            ("Status", |o| json!(text(o, "/status/phase"))),
            ("Restarts", pod_restarts),
        ],
        "deployments" => &[
            ("Ready", |o| {
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                ))
            }),
            ("Up-to-date", |o| json!(int(o, "/status/updatedReplicas"))),
            ("Available", |o| json!(int(o, "/status/availableReplicas"))),
        ],
        "jobs" => &[
            ("Status", job_status),
            ("Completions", |o| {
                json!(format!(
                    "{}/{}",
                    int(o, "/status/succeeded"),
                    int(o, "/spec/completions").max(1)
                ))
            }),
        ],
        "services" => &[
            ("Type", |o| json!(text(o, "/spec/type"))),
            ("Cluster-IP", |o| json!(text(o, "/spec/clusterIP"))),
            ("Port(s)", service_ports),
        ],
        "namespaces" => &[("Status", |o| json!(text(o, "/status/phase")))],
        "secrets" => &[
            ("Type", |o| json!(text(o, "/type"))),
            ("Data", |o| {
                json!(o["data"].as_object().map_or(0, |m| m.len()))
            }),
        ],
        "configmaps" => &[("Data", |o| {
            json!(
                o["data"].as_object().map_or(0, |m| m.len())
                    + o["binaryData"].as_object().map_or(0, |m| m.len())
            )
        })],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(plural: &str, o: &Value) -> Vec<Value> {
        builtin(plural).iter().map(|(_, f)| f(o)).collect()
    }

    #[test]
    fn deployment_pod_and_job_cells() {
        let d = json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}});
        assert_eq!(
            cells("deployments", &d),
            vec![json!("1/2"), json!(2), json!(1)]
        );
        let p = json!({"spec": {"containers": [{}, {}]}, "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 1}, {"ready": false, "restartCount": 2}]}});
        assert_eq!(
            cells("pods", &p),
            vec![json!("1/2"), json!("Running"), json!(3)]
        );
        let j = json!({"spec": {"completions": 1}, "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(cells("jobs", &j), vec![json!("Complete"), json!("1/1")]);
        assert!(builtin("leases").is_empty());
    }
}
