//! A scripted API server: `tower_test::mock::pair` behind a real `kube::Client` (kube-rs
//! `kube/src/mock_tests.rs`, controller-rs `fixtures.rs`). Each scripted exchange names the
//! request it expects (method, path, query, a subset of the JSON body) and the answer; requests
//! are matched to the first unanswered exchange that fits, so concurrent watches may interleave.
//! A request the script does not expect fails the test, except a watch past the script, which
//! is held open as a quiet server would. [`ApiServer::done`] fails the test unless every
//! exchange was answered.

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};

/// One expected request and its answer.
pub(super) struct Exchange {
    method: Method,
    path: String,
    watch: bool,
    query: Vec<String>,
    body: Option<Value>,
    status: u16,
    reply: Vec<u8>,
}

fn exchange(method: Method, path: &str, watch: bool) -> Exchange {
    Exchange {
        method,
        path: path.into(),
        watch,
        query: vec![],
        body: None,
        status: 200,
        reply: b"{}".to_vec(),
    }
}

/// `GET path` (one object).
pub(super) fn get(path: &str) -> Exchange {
    exchange(Method::GET, path, false)
}

/// `GET path` listing (no `watch=true`): kube-runtime's watcher lists with it.
pub(super) fn list(path: &str) -> Exchange {
    exchange(Method::GET, path, false)
}

/// `GET path?watch=true`.
pub(super) fn watch(path: &str) -> Exchange {
    exchange(Method::GET, path, true)
}

/// `PATCH path`.
pub(super) fn patch(path: &str) -> Exchange {
    exchange(Method::PATCH, path, false)
}

/// `DELETE path`.
pub(super) fn delete(path: &str) -> Exchange {
    exchange(Method::DELETE, path, false)
}

impl Exchange {
    /// The (decoded) query must contain `part`, e.g. `labelSelector=a=b`.
    pub(super) fn query(mut self, part: &str) -> Self {
        self.query.push(part.into());
        self
    }

    /// The request's JSON body must contain `subset` (objects key by key, other values equal).
    pub(super) fn body(mut self, subset: Value) -> Self {
        self.body = Some(subset);
        self
    }

    /// Answers 200 with `object`.
    pub(super) fn reply(mut self, object: Value) -> Self {
        self.reply = object.to_string().into_bytes();
        self
    }

    /// Answers a list of `items` at resourceVersion `rv`.
    pub(super) fn items(self, rv: &str, items: Vec<Value>) -> Self {
        self.reply(json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}))
    }

    /// Answers `code` with a `Status` of `reason`, as the API server does.
    pub(super) fn fail(mut self, code: u16, reason: &str) -> Self {
        self.status = code;
        self.reply = status(code, reason).to_string().into_bytes();
        self
    }

    /// Answers a watch with these events (`ADDED`, `DELETED`, `ERROR`, ...), then ends it.
    pub(super) fn events(mut self, events: Vec<(&str, Value)>) -> Self {
        self.reply = events
            .into_iter()
            .map(|(kind, object)| format!("{}\n", json!({"type": kind, "object": object})))
            .collect::<String>()
            .into_bytes();
        self
    }

    fn fits(&self, method: &Method, path: &str, query: &str) -> bool {
        let watch = query.split('&').any(|q| q == "watch=true");
        self.method == method
            && self.path == path
            && self.watch == watch
            && self.query.iter().all(|q| query.contains(q.as_str()))
    }
}

/// A `Status` object for HTTP `code`.
pub(super) fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("scripted {reason}"), "reason": reason, "code": code})
}

/// The running server: what it was asked, what it found wrong.
pub(super) struct ApiServer {
    script: Arc<Mutex<Vec<Exchange>>>,
    log: Arc<Mutex<Vec<String>>>,
    wrong: Arc<Mutex<Vec<String>>>,
}

/// A client talking to a server answering `script`.
pub(super) fn start(script: Vec<Exchange>) -> (Client, ApiServer) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = ApiServer {
        script: Arc::new(Mutex::new(script)),
        log: Arc::default(),
        wrong: Arc::default(),
    };
    let (script, log, wrong) = (
        server.script.clone(),
        server.log.clone(),
        server.wrong.clone(),
    );
    tokio::spawn(async move {
        let mut held = vec![];
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let body = body.collect_bytes().await.unwrap_or_default();
            let query = decoded(parts.uri.query().unwrap_or_default());
            let line = format!("{} {}?{query}", parts.method, parts.uri.path());
            log.lock().unwrap().push(line.clone());
            let found = {
                let mut script = script.lock().unwrap();
                let at = script
                    .iter()
                    .position(|e| e.fits(&parts.method, parts.uri.path(), &query));
                at.map(|i| script.remove(i))
            };
            match found {
                Some(e) => {
                    if let Some(subset) = &e.body {
                        let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        if !contains(&sent, subset) {
                            wrong
                                .lock()
                                .unwrap()
                                .push(format!("{line}: body {sent} does not contain {subset}"));
                        }
                    }
                    let response = Response::builder()
                        .status(e.status)
                        .header("content-type", "application/json")
                        .body(Body::from(e.reply))
                        .expect("a response");
                    send.send_response(response);
                }
                None if query.contains("watch=true") => held.push(send),
                None => {
                    wrong
                        .lock()
                        .unwrap()
                        .push(format!("unscripted request {line}"));
                    send.send_error(format!("unscripted request {line}"));
                }
            }
        }
    });
    (Client::new(service, "default"), server)
}

impl ApiServer {
    /// Fails the test if a request was unscripted or wrong, or an exchange was never asked
    /// for; every request served, in order (`METHOD path?query`).
    pub(super) fn done(self) -> Vec<String> {
        let wrong = self.wrong.lock().unwrap().clone();
        let log = self.log.lock().unwrap().clone();
        assert!(wrong.is_empty(), "{wrong:#?}\nrequests: {log:#?}");
        let left: Vec<String> = self
            .script
            .lock()
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {:?}", e.method, e.path, e.query))
            .collect();
        assert!(
            left.is_empty(),
            "never asked: {left:#?}\nrequests: {log:#?}"
        );
        log
    }
}

fn decoded(query: &str) -> String {
    percent_encoding::percent_decode_str(query)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether `actual` has everything `subset` has.
fn contains(actual: &Value, subset: &Value) -> bool {
    match (actual, subset) {
        (Value::Object(a), Value::Object(s)) => s
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        _ => actual == subset,
    }
}
