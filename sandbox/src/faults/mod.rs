//! API fault injection on the real apiserver: planned failures of clients' writes (the next N
//! requests `VERB path` get a status), delivered by a validating admission webhook the sandbox
//! serves ([`webhook`]), as an admission plugin or a flaky etcd would fail a write. Only the
//! admin identity clients use (`DIR/kubeconfig`) is faulted; the world's own controllers are not,
//! nor are dry runs (they never reach storage).
pub mod webhook;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One planned failure: requests whose method matches `verb` (or `*`) and whose path contains
/// `path` fail with `status`, `count` times.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Fault {
    pub verb: String,
    pub path: String,
    pub status: u16,
    pub count: u32,
    #[serde(default)]
    pub message: Option<String>,
}

/// The Status reason Kubernetes gives a code.
pub fn reason(status: u16) -> &'static str {
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

#[derive(Default)]
pub struct Faults {
    planned: Mutex<Vec<Fault>>,
    served: AtomicU64,
}

/// The failure a request gets: (code, reason, message).
pub type Injected = (u16, &'static str, String);

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
        self.served.load(Ordering::SeqCst)
    }

    /// How many planned uses are left.
    pub fn pending(&self) -> u32 {
        self.planned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|f| f.count)
            .sum()
    }

    /// The failure `method path` must get, consuming one use of the first matching fault.
    pub fn check(&self, method: &str, path: &str) -> Option<Injected> {
        let mut planned = self.planned.lock().unwrap_or_else(|p| p.into_inner());
        let i = planned.iter().position(|f| {
            (f.verb == "*" || f.verb.eq_ignore_ascii_case(method)) && path.contains(&f.path)
        })?;
        let f = planned[i].clone();
        self.served.fetch_add(1, Ordering::SeqCst);
        if f.count <= 1 {
            planned.remove(i);
        } else {
            planned[i].count -= 1;
        }
        let message = f
            .message
            .unwrap_or_else(|| format!("injected fault: {} {path}", f.status));
        Some((f.status, reason(f.status), message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_served_count_times_then_gone() {
        let f = Faults::default();
        f.add(Fault {
            verb: "PATCH".into(),
            path: "/deployments/web/scale".into(),
            status: 503,
            count: 2,
            message: None,
        });
        let path = "/apis/apps/v1/namespaces/a/deployments/web/scale";
        assert!(f.check("POST", path).is_none(), "the verb must match");
        assert_eq!(f.check("patch", path).map(|x| x.0), Some(503));
        assert_eq!(
            f.check("PATCH", path).map(|x| x.1),
            Some("ServiceUnavailable")
        );
        assert!(f.check("PATCH", path).is_none());
        assert_eq!(f.served(), 2);
        assert_eq!(f.pending(), 0);
    }
}
