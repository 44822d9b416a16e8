//! The Kubernetes API server: one HTTP handler that takes a request apart (discovery, OpenAPI,
//! or a resource path) and hands it to the module for that verb.
pub mod admission;
pub mod auth;
pub mod columns;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod faults;
pub mod internal;
pub mod managed;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod portforward;
pub mod read;
pub mod registry;
pub mod request;
pub mod selectors;
pub mod status;
pub mod store;
pub mod subresources;
pub mod table;
pub mod validation;
pub mod watch;
pub mod write;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{broadcast, Notify};

use crate::logs::LogStore;
use registry::Registry;
use request::{parse_target, Query, Target};
use status::ApiError;

/// Everything the server holds.
pub struct ApiServer {
    pub store: store::Store,
    pub registry: Registry,
    pub logs: Arc<LogStore>,
    /// Sending on this closes every open watch (fault injection: a dropped watch).
    pub dropped_watches: broadcast::Sender<()>,
    /// Wakes the built-in controllers (namespace finalization, garbage collection).
    pub wake: Notify,
    /// Planned failures of requests (fault injection).
    pub faults: faults::Faults,
    /// ServiceAccount tokens issued through `serviceaccounts/token`.
    pub tokens: auth::Tokens,
}

/// A JSON answer with its code and `Warning` headers.
pub struct Reply {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply {
            code: 200,
            body,
            warnings: vec![],
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::OK);
        let mut resp = (
            code,
            [("content-type", "application/json")],
            self.body.to_string(),
        )
            .into_response();
        for w in self.warnings {
            let v = format!("299 - \"{}\"", w.replace('"', "\\\""));
            if let Ok(h) = v.parse() {
                resp.headers_mut().append("warning", h);
            }
        }
        resp
    }
}

impl ApiServer {
    pub fn new() -> Arc<Self> {
        let api = Arc::new(ApiServer {
            store: store::Store::new(),
            registry: Registry::new(),
            logs: Arc::new(LogStore::default()),
            dropped_watches: broadcast::channel(4).0,
            wake: Notify::new(),
            faults: faults::Faults::default(),
            tokens: auth::Tokens::default(),
        });
        crate::controllers::seed_namespaces(&api);
        api
    }

    /// Wakes the controllers after a change they may need to act on.
    pub fn kick(&self) {
        self.wake.notify_one();
    }

    /// Closes every open watch stream, as a restarted API server or a broken connection would.
    pub fn drop_watches(&self) {
        let _ = self.dropped_watches.send(());
    }
}

fn wants_table(h: &HeaderMap) -> bool {
    h.get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

/// The field manager: `fieldManager`, else the user agent's program name, as kube derives it.
fn manager(q: &Query, h: &HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager") {
        return m.to_string();
    }
    let ua = h
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    ua.split('/').next().unwrap_or("unknown").to_string()
}

/// The single entry point for every request.
pub async fn handle(State(api): State<Arc<ApiServer>>, req: axum::extract::Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let user = match api.tokens.authenticate(authorization) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let upgrade = parts
        .headers
        .get("upgrade")
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrade {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &api).await {
            Ok(ws) => {
                upgraded(api, &user, &parts.uri, ws).unwrap_or_else(IntoResponse::into_response)
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let body = match axum::body::to_bytes(body, 512 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("failed to read the body: {e}")).into_response()
        }
    };
    match route(api, &user, parts.method, parts.uri, parts.headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// WebSocket requests: `pods/NAME/portforward`.
fn upgraded(
    api: Arc<ApiServer>,
    user: &auth::User,
    uri: &Uri,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segs.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        _ => return Err(ApiError::not_found_path()),
    };
    let t = parse_target(&api.registry, "", "v1", rest)?;
    let q = Query::parse(uri.query())?;
    match (t.rt.plural.as_str(), t.sub.as_deref()) {
        ("pods", Some("portforward")) => {
            let attrs = auth::Attributes {
                verb: "create",
                group: "",
                resource: "pods/portforward".into(),
                namespace: t.namespace.as_deref(),
                name: t.name.as_deref(),
            };
            auth::authorize(&api, user, &attrs)?;
            portforward::portforward(&api, &t, &q, ws)
        }
        _ => Err(ApiError::bad_request(
            "only pods/portforward is served over WebSocket",
        )),
    }
}

async fn route(
    api: Arc<ApiServer>,
    user: &auth::User,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = method == Method::GET;
    let reply = |v: Value| Ok(Reply::ok(v).into_response());
    if let ["sandbox", rest @ ..] = segs.as_slice() {
        return reply(faults::control(&api, method.as_str(), rest, &body)?);
    }
    if let Some(err) = api.faults.check(method.as_str(), uri.path()) {
        return Err(err);
    }
    match segs.as_slice() {
        ["version"] if get => return reply(discovery::version()),
        ["healthz" | "readyz" | "livez"] if get => return Ok("ok".into_response()),
        ["api"] if get => return reply(discovery::core_versions()),
        ["apis"] if get => return reply(discovery::groups(&api.registry)),
        ["openapi", rest @ ..] if get => return openapi::serve(&api.registry, rest),
        ["api", "v1"] if get => {
            return reply(
                discovery::resources(&api.registry, "", "v1")
                    .ok_or_else(ApiError::not_found_path)?,
            )
        }
        ["apis", g] if get => {
            return reply(
                discovery::one_group(&api.registry, g).ok_or_else(ApiError::not_found_path)?,
            )
        }
        ["apis", g, v] if get => {
            return reply(
                discovery::resources(&api.registry, g, v).ok_or_else(ApiError::not_found_path)?,
            )
        }
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::not_found_path()),
    };
    let t = parse_target(&api.registry, group, version, rest)?;
    let q = Query::parse(uri.query())?;
    let watch = q.flag("watch");
    let resource_name = match &t.sub {
        Some(sub) => format!("{}/{sub}", t.rt.plural),
        None => t.rt.plural.clone(),
    };
    let attrs = auth::Attributes {
        verb: auth::verb(method.as_str(), t.name.is_some(), watch),
        group: &t.rt.group,
        resource: resource_name,
        namespace: t.namespace.as_deref(),
        name: t.name.as_deref(),
    };
    auth::authorize(&api, user, &attrs)?;
    resource(&api, &t, &q, &method, &headers, &body).await
}

async fn resource(
    api: &Arc<ApiServer>,
    t: &Target<'_>,
    q: &Query,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    if t.name.is_none() && !t.rt.namespaced && t.namespace.is_some() {
        return Err(ApiError::not_found_path());
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") {
        return Err(ApiError::unsupported_media_type(
            "the sandbox speaks JSON only",
        ));
    }
    let table = wants_table(headers);
    let mgr = manager(q, headers);
    let m = method.as_str();
    let r = match (t.sub.as_deref(), m) {
        (Some("token"), "POST") if t.rt.plural == "serviceaccounts" => token_request(api, t)?,
        (Some("scale"), _) => subresources::scale(api, t, q, m, body, ct)?,
        (Some("log"), "GET") if t.rt.plural == "pods" && t.rt.group.is_empty() => {
            return subresources::log(api.clone(), t, q).await
        }
        (Some("status"), _) if t.rt.status_subresource => match m {
            "GET" => read::get(api, t, q, table)?,
            "PUT" => write::replace(api, t, q, body, &mgr)?,
            "PATCH" => write::patch(api, t, q, body, ct, q.get("fieldManager").or(Some(&mgr)))?,
            _ => {
                return Err(ApiError::method_not_allowed(format!(
                    "{m} is not supported on status"
                )))
            }
        },
        (Some(sub), _) => {
            return Err(ApiError::not_found(
                &t.rt.group,
                &format!("{}/{sub}", t.rt.plural),
                t.name.as_deref().unwrap_or_default(),
            ))
        }
        (None, "GET") if t.name.is_some() && !q.flag("watch") => read::get(api, t, q, table)?,
        (None, "GET") if q.flag("watch") => return watch::watch(api.clone(), t, q, table),
        (None, "GET") => read::list(api, t, q, table)?,
        (None, "POST") => write::create(api, t, q, body, &mgr)?,
        (None, "PUT") => write::replace(api, t, q, body, &mgr)?,
        (None, "PATCH") => {
            let apply_mgr = q.get("fieldManager");
            let mgr_for = if ct.starts_with("application/apply-patch") {
                apply_mgr
            } else {
                Some(mgr.as_str())
            };
            write::patch(api, t, q, body, ct, mgr_for)?
        }
        (None, "DELETE") => delete::delete(api, t, q, body)?,
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource: {m}"
            )))
        }
    };
    api.kick();
    Ok(r.into_response())
}

/// POST `serviceaccounts/NAME/token` (TokenRequest): a bearer token for that ServiceAccount.
fn token_request(api: &ApiServer, t: &Target) -> Result<Reply, ApiError> {
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    if api.get_obj("", "serviceaccounts", &ns, &name).is_none() {
        return Err(ApiError::not_found("", "serviceaccounts", &name));
    }
    let token = api.tokens.issue(&ns, &name);
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let body = serde_json::json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600},
        "status": {"token": token, "expirationTimestamp": expires}});
    Ok(Reply {
        code: 201,
        body,
        warnings: vec![],
    })
}
