//! One sync operation, read only from the Application's `operation` (never from its spec):
//! `sync.syncOptions`, `sync.prune`, `sync.resources` and `retry`. An attempt runs PreSync
//! hooks, applies the manifests (and prunes), Sync hooks, PostSync hooks (no hooks in a sync of
//! selected resources); a failed attempt is retried per `retry`. The end writes the terminal
//! `status.operationState` and `operation: null` in one merge patch, as Argo CD's controller
//! does; `status.sync` and `status.health` come from the next refresh.
use std::sync::Arc;

use serde_json::{json, Value};

use super::target::Target;
use super::{apply, backoff, compare, hooks, prune, tracking};
use crate::cluster::{now, Cluster};

/// What the operation asks for.
struct Ask {
    options: Vec<String>,
    prune: bool,
    /// `sync.resources`: only these (group, kind, name); empty: everything.
    only: Vec<Value>,
}

impl Ask {
    fn of(op: &Value) -> Ask {
        let options = op
            .pointer("/sync/syncOptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(String::from))
            .collect();
        Ask {
            options,
            prune: op.pointer("/sync/prune") == Some(&json!(true)),
            only: op
                .pointer("/sync/resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn has(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }

    fn selects(&self, t: &Target) -> bool {
        let same =
            |r: &Value, k: &str, v: &str| r.get(k).and_then(Value::as_str).unwrap_or("") == v;
        self.only.is_empty()
            || self.only.iter().any(|r| {
                same(r, "group", &t.group)
                    && same(r, "kind", &t.kind)
                    && same(r, "name", &t.name)
                    && r.get("namespace").is_none_or(|n| n == t.namespace.as_str())
            })
    }
}

/// The outcome of one attempt.
struct Attempt {
    phase: &'static str,
    message: String,
    result: Option<Value>,
}

/// Applies (or skips, with `ApplyOutOfSyncOnly=true`) every selected target.
fn apply_all(api: &Cluster, ask: &Ask, targets: &[Target], results: &mut Vec<Value>) -> bool {
    let mut ok = true;
    for t in targets.iter().filter(|t| ask.selects(t)) {
        let in_sync = t.live(api).is_some_and(|l| compare::contains(&l, &t.doc));
        if ask.has("ApplyOutOfSyncOnly=true") && in_sync {
            continue;
        }
        let (r, applied) = apply::apply(api, t);
        results.push(r);
        ok &= applied;
    }
    ok
}

fn prune_selected(api: &Cluster, app: &Value, ask: &Ask, targets: &[Target]) -> Vec<Value> {
    if !ask.prune {
        return vec![];
    }
    prune::prune(api, app, targets, &ask.options, &|x| ask.selects(x))
}

async fn attempt(api: &Cluster, app: &Value, op: &Value) -> Attempt {
    let ask = Ask::of(op);
    let (docs, revision) = match super::source(api, app) {
        Ok(s) => s,
        Err(message) => {
            return Attempt {
                phase: "Error",
                message,
                result: None,
            }
        }
    };
    let ns = compare::dest_namespace(app);
    let key = tracking::app_key(app);
    if ask.has("CreateNamespace=true") {
        if let Err(message) = apply::create_namespace(api, &ns) {
            return Attempt {
                phase: "Error",
                message,
                result: None,
            };
        }
    }
    let (hook_docs, plain): (Vec<Value>, Vec<Value>) = docs
        .into_iter()
        .filter(|d| !hooks::phases(d).iter().any(|p| p == "Skip"))
        .partition(|d| !hooks::phases(d).is_empty());
    let targets: Vec<Target> = plain
        .into_iter()
        .map(|d| Target::new(api, &key, d, &ns))
        .collect();
    let run_hooks = ask.only.is_empty();
    let mut results = vec![];
    let mut failed: Option<&str> = None;
    for phase in ["PreSync", "Sync", "PostSync"] {
        if phase == "Sync" {
            if !apply_all(api, &ask, &targets, &mut results) {
                failed = Some("one or more objects failed to apply");
                break;
            }
            if !ask.has("PruneLast=true") {
                results.extend(prune_selected(api, app, &ask, &targets));
            }
        }
        for doc in hook_docs
            .iter()
            .filter(|d| run_hooks && hooks::phases(d).iter().any(|p| p == phase))
        {
            let (r, ok) = hooks::run(api, &key, &revision, doc.clone(), &ns, phase).await;
            results.push(r);
            if !ok {
                failed = Some("one or more synchronization tasks completed unsuccessfully");
                break;
            }
        }
        if failed.is_some() {
            break;
        }
        if phase == "Sync" && ask.has("PruneLast=true") {
            results.extend(prune_selected(api, app, &ask, &targets));
        }
    }
    let result =
        json!({"revision": revision, "source": app["spec"]["source"], "resources": results});
    let (phase, message) = match failed {
        Some(m) => ("Failed", m.to_string()),
        None => (
            "Succeeded",
            "successfully synced (all tasks run)".to_string(),
        ),
    };
    Attempt {
        phase,
        message,
        result: Some(result),
    }
}

/// A merge patch turning `old` into exactly `new`: keys `new` lacks are removed at every depth
/// (a plain merge patch would keep them inside nested objects).
fn replacing(old: &Value, new: &Value) -> Value {
    match (old.as_object(), new.as_object()) {
        (Some(o), Some(n)) => {
            let mut out = serde_json::Map::new();
            for (k, v) in n {
                out.insert(k.clone(), replacing(o.get(k).unwrap_or(&Value::Null), v));
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

/// Runs the Application's pending operation to its end (retries included).
pub async fn run(api: &Arc<Cluster>, app: Value) {
    let op = app["operation"].clone();
    let mut state = json!({"operation": op, "phase": "Running", "message": "", "startedAt": now()});
    let old = &app["status"]["operationState"];
    super::write(
        api,
        &app,
        &json!({"status": {"operationState": replacing(old, &state)}}),
    );
    let mut retries = 0u32;
    loop {
        let a = attempt(api, &app, &op).await;
        state["phase"] = json!(a.phase);
        state["message"] = json!(a.message);
        state["finishedAt"] = json!(now());
        if let Some(r) = &a.result {
            state["syncResult"] = r.clone();
        }
        if a.phase != "Succeeded" && backoff::retries_left(&op["retry"], retries) {
            match backoff::retry_delay(&op["retry"], retries) {
                Ok(delay) => {
                    retries += 1;
                    let at = chrono::Utc::now() + delay;
                    state["phase"] = json!("Running");
                    state["retryCount"] = json!(retries);
                    state["message"] = json!(format!(
                        "{}. Retrying attempt #{retries} at {}.",
                        a.message,
                        at.format("%-I:%M%p")
                    ));
                    super::write(api, &app, &json!({"status": {"operationState": state}}));
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Err(e) => {
                    state["phase"] = json!("Error");
                    state["message"] = json!(format!("{} (failed to retry: {e})", a.message));
                }
            }
        } else if retries > 0 {
            state["message"] = json!(format!("{} (retried {retries} times).", a.message));
        }
        break;
    }
    if state["phase"] == "Succeeded" {
        history(api, &app, &state);
    }
    super::write(
        api,
        &app,
        &json!({"operation": null, "status": {"operationState": state}}),
    );
}

/// Records a successful sync in `status.history` (its own write, before the operation ends).
fn history(api: &Cluster, app: &Value, state: &Value) {
    let mut history = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let id = history
        .iter()
        .filter_map(|h| h["id"].as_i64())
        .max()
        .map_or(0, |m| m + 1);
    history.push(
        json!({"id": id, "revision": state["syncResult"]["revision"], "deployedAt": now(),
        "source": app["spec"]["source"], "deployStartedAt": state["startedAt"],
        "initiatedBy": state["operation"]["initiatedBy"]}),
    );
    let keep = history.len().saturating_sub(10);
    super::write(
        api,
        app,
        &json!({"status": {"history": history[keep..].to_vec()}}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_operation_state_replaces_the_old_one_at_every_depth() {
        let old = json!({"phase": "Succeeded", "retryCount": 2,
            "operation": {"initiatedBy": {"username": "tester"}, "sync": {"prune": true}}});
        let new = json!({"phase": "Running", "operation": {"initiatedBy": {"automated": true}}});
        let mut merged = old.clone();
        json_patch::merge(&mut merged, &replacing(&old, &new));
        assert_eq!(merged, new);
    }
}
