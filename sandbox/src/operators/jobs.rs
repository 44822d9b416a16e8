//! The Job controller: a Job gets Pods from its template (labels, ownerReferences), counts their
//! outcomes, and is marked `Complete` or `Failed` (BackoffLimitExceeded, DeadlineExceeded) as
//! batch/v1 does; `ttlSecondsAfterFinished` deletes finished Jobs.
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::apiserver::meta::{now, random_suffix};
use crate::apiserver::ApiServer;

const MANAGER: &str = "job-controller";

fn cond_true(job: &Value, t: &str) -> Option<String> {
    job.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == t && c["status"] == "True")
        .map(|c| {
            c["lastTransitionTime"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
}

fn age_secs(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
        .unwrap_or(0)
}

/// Runs the Job controller until the sandbox stops.
pub fn spawn(api: Arc<ApiServer>) -> tokio::task::JoinHandle<()> {
    super::on_changes(api, &["jobs", "pods"], Duration::from_millis(500), |api| {
        for job in api.list_objs("batch", "jobs", None) {
            reconcile(api, &job);
        }
    })
}

fn patch_status(api: &ApiServer, job: &Value, status: Value) {
    let ns = job["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = job["metadata"]["name"].as_str().unwrap_or_default();
    let _ = api.merge_patch(
        "batch",
        "jobs",
        ns,
        name,
        &json!({"status": status}),
        true,
        MANAGER,
    );
}

fn reconcile(api: &ApiServer, job: &Value) {
    if job.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let ns = job["metadata"]["namespace"].as_str().unwrap_or_default();
    let finished = cond_true(job, "Complete").or_else(|| cond_true(job, "Failed"));
    if let Some(at) = finished {
        if let Some(ttl) = job
            .pointer("/spec/ttlSecondsAfterFinished")
            .and_then(Value::as_i64)
        {
            if age_secs(&at) >= ttl {
                let _ = api.delete_obj(
                    "batch",
                    "jobs",
                    ns,
                    job["metadata"]["name"].as_str().unwrap_or_default(),
                    Some("Background"),
                );
            }
        }
        return;
    }
    if job.pointer("/spec/suspend") == Some(&json!(true)) {
        return;
    }
    let uid = job["metadata"]["uid"].as_str().unwrap_or_default();
    let pods: Vec<Value> = api
        .list_objs("", "pods", Some(ns))
        .into_iter()
        .filter(|p| {
            p.pointer("/metadata/labels/batch.kubernetes.io~1controller-uid")
                .and_then(Value::as_str)
                == Some(uid)
        })
        .collect();
    let phase = |p: &Value| {
        p.pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending")
            .to_string()
    };
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| {
            matches!(phase(p).as_str(), "Pending" | "Running")
                && p.pointer("/metadata/deletionTimestamp").is_none()
        })
        .collect();
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
    let ready = active.iter().filter(|p| phase(p) == "Running").count();
    let completions = job
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let backoff = job
        .pointer("/spec/backoffLimit")
        .and_then(Value::as_i64)
        .unwrap_or(6);
    let start = job
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(now);
    let deadline = job
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64);
    let t = now();
    let mut status = json!({"startTime": start, "active": active.len(), "succeeded": succeeded, "failed": failed, "ready": ready, "terminating": 0});
    let failure = if failed > backoff {
        Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if deadline.is_some_and(|d| age_secs(&start) >= d) {
        Some((
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else {
        None
    };
    if succeeded >= completions {
        status["completionTime"] = json!(t);
        status["active"] = json!(0);
        status["conditions"] = json!([
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t}]);
    } else if let Some((reason, message)) = failure {
        for p in &active {
            let _ = api.delete_obj(
                "",
                "pods",
                ns,
                p["metadata"]["name"].as_str().unwrap_or_default(),
                Some("Background"),
            );
        }
        status["active"] = json!(0);
        status["conditions"] = json!([
            {"type": "FailureTarget", "status": "True", "reason": reason, "message": message, "lastProbeTime": t, "lastTransitionTime": t},
            {"type": "Failed", "status": "True", "reason": reason, "message": message, "lastProbeTime": t, "lastTransitionTime": t}]);
    } else if active.is_empty() {
        create_pod(api, job);
        status["active"] = json!(1);
    }
    let current = job.get("status").cloned().unwrap_or(json!({}));
    let changed = status
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| current.get(k) != Some(v));
    if changed {
        patch_status(api, job, status);
    }
}

fn create_pod(api: &ApiServer, job: &Value) {
    let name = job["metadata"]["name"].as_str().unwrap_or_default();
    let template = &job["spec"]["template"];
    let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
    meta["name"] = json!(format!("{name}-{}", random_suffix()));
    meta["namespace"] = job["metadata"]["namespace"].clone();
    meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
    let pod =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]});
    if let Err(e) = api.create_obj(&pod, MANAGER) {
        tracing::warn!(job = name, error = %e.message, "failed to create the job's pod");
    }
}
