//! The S3 fault proxy: a small HTTP reverse proxy in front of moto. The world's S3 endpoint is
//! the proxy's, so barman-cloud (archiving, backups) and cnpgops reach S3 only through it.
//! Tests plan faults on the world handle ([`super::World::s3_faults`]): the next N requests
//! whose method and path (with query) match answer 503 `SlowDown` or 500 `InternalError` with
//! real S3 XML error bodies, or are forwarded after a delay; a fault may be limited to one
//! client by its User-Agent (other clients, such as the instance's own barman-cloud runs, share
//! the endpoint). Every request is recorded with its client. Headers (Host included: SigV4 signs
//! it) and bodies pass through untouched.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::error::{Result, WorldError};

/// What a matching request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3FaultKind {
    /// 503 with S3's `SlowDown` error (throttling: clients retry it).
    SlowDown,
    /// 500 with S3's `InternalError` (clients retry it too).
    InternalError,
    /// Forwarded after this delay.
    Delay(Duration),
}

/// One planned fault: requests whose method matches `method` (`*`: any) and whose path and
/// query contain `path`, `count` times; with `agent`, only requests whose User-Agent contains
/// it.
#[derive(Debug, Clone)]
pub struct S3Fault {
    pub method: String,
    pub path: String,
    pub kind: S3FaultKind,
    pub count: u32,
    pub agent: Option<String>,
}

impl S3Fault {
    pub fn new(method: &str, path: &str, kind: S3FaultKind, count: u32) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            kind,
            count,
            agent: None,
        }
    }

    /// Limits the fault to clients whose User-Agent contains `agent` (e.g. `aws-sdk-rust`).
    pub fn for_agent(mut self, agent: &str) -> Self {
        self.agent = Some(agent.into());
        self
    }

    fn matches(&self, r: &S3Request) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(&r.method))
            && r.path.contains(&self.path)
            && self.agent.as_ref().is_none_or(|a| r.agent.contains(a))
    }
}

/// One request the proxy saw, and the fault it got (if any).
#[derive(Debug, Clone)]
pub struct S3Request {
    pub method: String,
    pub path: String,
    /// The client's User-Agent header (empty when it sent none).
    pub agent: String,
    pub fault: Option<S3FaultKind>,
}

/// The planned faults and the request log, shared by the world and the proxy.
#[derive(Default)]
pub struct S3Faults {
    planned: Mutex<Vec<S3Fault>>,
    seen: Mutex<Vec<S3Request>>,
}

impl S3Faults {
    pub fn add(&self, f: S3Fault) {
        lock(&self.planned).push(f);
    }

    /// Drops every planned fault (the request log stays).
    pub fn clear(&self) {
        lock(&self.planned).clear();
    }

    /// Every request seen so far, oldest first.
    pub fn requests(&self) -> Vec<S3Request> {
        lock(&self.seen).clone()
    }

    /// How many requests matching `method` (`*`: any) and `path` were seen.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.count_matching(&S3Fault::new(method, path, S3FaultKind::SlowDown, 0))
    }

    /// How many requests `probe` would match (its kind and count aside) were seen.
    pub fn count_matching(&self, probe: &S3Fault) -> usize {
        let seen = lock(&self.seen);
        seen.iter().filter(|r| probe.matches(r)).count()
    }

    /// How many requests got an injected error (not a delay).
    pub fn injected(&self) -> usize {
        let seen = lock(&self.seen);
        seen.iter()
            .filter(|r| {
                matches!(
                    r.fault,
                    Some(S3FaultKind::SlowDown | S3FaultKind::InternalError)
                )
            })
            .count()
    }

    /// Records the request and consumes one use of the first matching fault.
    fn check(&self, mut request: S3Request) -> Option<S3FaultKind> {
        let fault = {
            let mut planned = lock(&self.planned);
            planned.iter().position(|f| f.matches(&request)).map(|i| {
                let kind = planned[i].kind;
                if planned[i].count <= 1 {
                    planned.remove(i);
                } else {
                    planned[i].count -= 1;
                }
                kind
            })
        };
        request.fault = fault;
        lock(&self.seen).push(request);
        fault
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Proxy {
    faults: Arc<S3Faults>,
    upstream: String,
    client: Client<HttpConnector, Body>,
}

/// The running proxy: its own thread and runtime, like an outside server, so a test blocking
/// its own runtime (a boto3 call from an async test) cannot stall it.
pub struct ProxyHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProxyHandle {
    /// Stops listening and waits for the thread (open connections end with it).
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves the proxy on a free port of `host` in front of `upstream` (`http://host:port`);
/// returns its endpoint and the handle that stops it.
pub fn start(
    faults: Arc<S3Faults>,
    upstream: String,
    host: std::net::Ipv4Addr,
) -> Result<(String, ProxyHandle)> {
    let io = |e| WorldError::io("S3 fault proxy", format!("{host}:0"), e);
    let listener = std::net::TcpListener::bind(SocketAddr::from((host, 0))).map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("s3-fault-proxy".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let proxy = Arc::new(Proxy {
                    faults,
                    upstream,
                    client: Client::builder(TokioExecutor::new()).build_http(),
                });
                let app = axum::Router::new().fallback(forward).with_state(proxy);
                let serve = axum::serve(listener, app);
                tokio::select! {
                    _ = serve => {}
                    _ = rx => {}
                }
            });
        })
        .map_err(io)?;
    let handle = ProxyHandle {
        stop: Some(tx),
        thread: Some(thread),
    };
    Ok((format!("http://{addr}"), handle))
}

async fn forward(State(proxy): State<Arc<Proxy>>, mut req: Request) -> Response<Body> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let method = req.method().clone();
    let agent = req.headers().get("user-agent");
    let agent = agent.and_then(|v| v.to_str().ok()).unwrap_or_default();
    let request = S3Request {
        method: method.to_string(),
        path: path.clone(),
        agent: agent.to_string(),
        fault: None,
    };
    match proxy.faults.check(request) {
        Some(S3FaultKind::SlowDown) => {
            return s3_error(
                &method,
                &path,
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            )
        }
        Some(S3FaultKind::InternalError) => {
            return s3_error(
                &method,
                &path,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
        Some(S3FaultKind::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let Ok(uri) = format!("{}{path}", proxy.upstream).parse::<Uri>() else {
        return s3_error(
            &method,
            &path,
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            "Couldn't parse the specified URI.",
        );
    };
    *req.uri_mut() = uri;
    match proxy.client.request(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::warn!(error = %e, "S3 fault proxy: upstream unreachable");
            s3_error(
                &method,
                &path,
                StatusCode::BAD_GATEWAY,
                "ServiceUnavailable",
                "The upstream S3 server is unreachable.",
            )
        }
    }
}

/// An S3 error as S3 sends it: XML `<Error>` with code, message, resource and request id (no
/// body for HEAD, where clients read only the status).
fn s3_error(
    method: &Method,
    path: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Body> {
    let request_id = format!("{:016X}", rand::random::<u64>());
    let resource = path.split('?').next().unwrap_or("/");
    let body = if method == Method::HEAD {
        String::new()
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
        )
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/xml"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amz-request-id", v);
    }
    resp
}
