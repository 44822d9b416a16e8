//! WATCH: newline-delimited events from a resourceVersion (or from the current state), with
//! selectors, bookmarks, timeouts and 410 Gone for a compacted resourceVersion.
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::request::{Query, Target};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Change, EventType, ResKey};
use super::{table, ApiServer};

/// What one watch stream follows.
struct Spec {
    res: ResKey,
    group: String,
    version: String,
    plural: String,
    kind: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    bookmarks: bool,
    as_table: bool,
    timeout: Duration,
    include: Option<String>,
}

impl Spec {
    fn selects(&self, o: &Value) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
            && self.labels.matches(o.pointer("/metadata/labels"))
            && self.fields.matches(o)
    }

    /// The event type this watch sees for a change, if any: a modification that moves the
    /// object out of the selection is DELETED, into it ADDED, as kube-apiserver reports them.
    fn event(&self, c: &Change) -> Option<&'static str> {
        if c.res != self.res {
            return None;
        }
        let now = self.selects(&c.object);
        match (c.kind, c.previous.as_ref().map(|p| self.selects(p))) {
            (EventType::Modified, Some(true)) if !now => Some("DELETED"),
            (EventType::Modified, Some(false)) if now => Some("ADDED"),
            (_, _) if now => Some(c.kind.as_str()),
            _ => None,
        }
    }
}

pub fn watch(
    api: Arc<ApiServer>,
    t: &Target,
    q: &Query,
    as_table: bool,
) -> Result<Response, ApiError> {
    let mut fields = q.field(t.rt)?;
    if let Some(name) = &t.name {
        fields = FieldSelector::parse(&format!("metadata.name={name}"), &[])?;
    }
    let timeout = q
        .number("timeoutSeconds")?
        .filter(|s| *s > 0)
        .unwrap_or(1800) as u64;
    let spec = Spec {
        res: ResKey::new(&t.rt.group, &t.rt.plural),
        group: t.rt.group.clone(),
        version: t.rt.version.clone(),
        plural: t.rt.plural.clone(),
        kind: t.rt.kind.clone(),
        namespace: t.namespace.clone(),
        labels: q.label.clone(),
        fields,
        bookmarks: q.flag("allowWatchBookmarks"),
        as_table,
        timeout: Duration::from_secs(timeout),
        include: q.get("includeObject").map(String::from),
    };
    let from = q.get("resourceVersion").filter(|v| *v != "0");
    let (tx, rx) = mpsc::channel::<Result<String, std::io::Error>>(256);
    let start = match from {
        Some(rv) => {
            let rv: u64 = rv
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?;
            match api.store.watch_from(rv) {
                Ok((backlog, live)) => Start::From(rv, backlog, live),
                Err(oldest) => Start::Gone(rv, oldest),
            }
        }
        None => {
            let live = api.store.subscribe();
            let txn = api.store.lock();
            let now = txn.current_rv();
            let items = txn.list(&spec.res, spec.namespace.as_deref());
            drop(txn);
            Start::State(items, now, live)
        }
    };
    tokio::spawn(run(api, spec, start, tx));
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [
            ("content-type", "application/json"),
            ("cache-control", "no-cache, private"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

enum Start {
    From(u64, Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>),
    Gone(u64, u64),
    State(Vec<Value>, u64, broadcast::Receiver<Arc<Change>>),
}

fn line(kind: &str, object: Value) -> Result<String, std::io::Error> {
    Ok(format!("{}\n", json!({"type": kind, "object": object})))
}

fn render(api: &ApiServer, spec: &Spec, object: &Value) -> Value {
    if !spec.as_table {
        return object.clone();
    }
    let q = Query::parse(
        spec.include
            .as_ref()
            .map(|i| format!("includeObject={i}"))
            .as_deref(),
    )
    .ok();
    match (
        api.registry.find(&spec.group, &spec.version, &spec.plural),
        q,
    ) {
        (Some(rt), Some(q)) => table::table(
            rt,
            std::slice::from_ref(object),
            &object["metadata"]["resourceVersion"],
            &q,
        ),
        _ => object.clone(),
    }
}

async fn run(
    api: Arc<ApiServer>,
    spec: Spec,
    start: Start,
    tx: mpsc::Sender<Result<String, std::io::Error>>,
) {
    let mut drops = api.dropped_watches.subscribe();
    let (mut last, mut live) = match start {
        Start::Gone(rv, oldest) => {
            let status =
                ApiError::gone(format!("too old resource version: {rv} ({oldest})")).to_status();
            let _ = tx.send(line("ERROR", status)).await;
            return;
        }
        Start::State(items, now, live) => {
            for o in items.iter().filter(|o| {
                spec.labels.matches(o.pointer("/metadata/labels")) && spec.fields.matches(o)
            }) {
                if tx
                    .send(line("ADDED", render(&api, &spec, o)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            (now, live)
        }
        Start::From(from, backlog, live) => {
            let mut last = from;
            for c in backlog {
                last = c.rv;
                if let Some(kind) = spec.event(&c) {
                    if tx
                        .send(line(kind, render(&api, &spec, &c.object)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            (last, live)
        }
    };
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = drops.recv() => return,
            _ = tick.tick(), if spec.bookmarks => {
                let rv = api.store.lock().current_rv().max(last);
                let bm = json!({"kind": spec.kind, "apiVersion": if spec.group.is_empty() { spec.version.clone() } else { format!("{}/{}", spec.group, spec.version) }, "metadata": {"resourceVersion": rv.to_string()}});
                if tx.send(line("BOOKMARK", bm)).await.is_err() { return; }
            }
            got = live.recv() => match got {
                Ok(c) if c.rv > last => {
                    last = c.rv;
                    if let Some(kind) = spec.event(&c) {
                        if tx.send(line(kind, render(&api, &spec, &c.object))).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let status = ApiError::gone(format!("too old resource version: {last}")).to_status();
                    let _ = tx.send(line("ERROR", status)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
