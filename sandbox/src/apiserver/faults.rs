//! Fault injection for reliability tests: fail the next N requests matching a verb and path with
//! a chosen status, drop every open watch, compact the watch history, kill a pod's processes.
//! Reached in-process (`ApiServer::faults`) or over HTTP under `/sandbox/` (not a Kubernetes
//! path, so no client confuses it with the API).
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{json, Value};

use super::status::ApiError;
use super::ApiServer;

/// One planned failure: requests whose method matches `verb` (or `*`) and whose path contains
/// `path` fail with `status` (and a Status body with `reason`), `count` times.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Fault {
    #[serde(default = "any")]
    pub verb: String,
    pub path: String,
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub message: Option<String>,
}

fn any() -> String {
    "*".into()
}
fn one() -> u32 {
    1
}

#[derive(Default)]
pub struct Faults {
    planned: Mutex<Vec<Fault>>,
    /// How many requests got an injected fault (tests assert retries with it).
    served: std::sync::atomic::AtomicU64,
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

impl Faults {
    pub fn add(&self, f: Fault) {
        self.planned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
    }

    pub fn clear(&self) {
        self.planned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// How many requests have got an injected fault so far.
    pub fn served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many planned uses are left.
    pub fn pending(&self) -> u32 {
        let planned = self.planned.lock().unwrap_or_else(|p| p.into_inner());
        planned.iter().map(|f| f.count).sum()
    }

    /// The error a request must get, consuming one use of the first matching fault.
    pub fn check(&self, method: &str, path: &str) -> Option<ApiError> {
        let mut planned = self.planned.lock().unwrap_or_else(|p| p.into_inner());
        let i = planned.iter().position(|f| {
            (f.verb == "*" || f.verb.eq_ignore_ascii_case(method)) && path.contains(&f.path)
        })?;
        let f = planned[i].clone();
        self.served
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if f.count <= 1 {
            planned.remove(i);
        } else {
            planned[i].count -= 1;
        }
        let message = f
            .message
            .unwrap_or_else(|| format!("injected fault: {} {path}", f.status));
        Some(ApiError {
            code: f.status,
            reason: reason(f.status),
            message,
            details: None,
        })
    }
}

/// `/sandbox/...` control requests.
pub fn control(
    api: &ApiServer,
    method: &str,
    rest: &[&str],
    body: &[u8],
) -> Result<Value, ApiError> {
    let parse = |b: &[u8]| {
        serde_json::from_slice::<Value>(b)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
    };
    match (method, rest) {
        ("POST", ["faults"]) => {
            let f: Fault = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid fault: {e}")))?;
            api.faults.add(f);
            Ok(json!({"ok": true}))
        }
        ("DELETE", ["faults"]) => {
            api.faults.clear();
            Ok(json!({"ok": true}))
        }
        ("POST", ["drop-watches"]) => {
            api.drop_watches();
            Ok(json!({"ok": true}))
        }
        ("POST", ["compact"]) => {
            api.store.compact();
            Ok(json!({"ok": true}))
        }
        ("POST", ["kill-pod"]) => {
            let v = parse(body)?;
            let killed = crate::operators::pods::kill(
                v["namespace"].as_str().unwrap_or_default(),
                v["name"].as_str().unwrap_or_default(),
            );
            Ok(json!({"killed": killed}))
        }
        _ => Err(ApiError::not_found_path()),
    }
}
