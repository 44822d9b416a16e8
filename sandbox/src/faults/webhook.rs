//! The fault webhook: an HTTPS server on the sandbox's address answering AdmissionReviews, and
//! the ValidatingWebhookConfiguration that sends it every write. A request is rebuilt as the
//! client sent it (verb from the operation, path from the resource) and denied
//! with a planned fault's status, which the apiserver passes on to the client unchanged.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};
use tokio_rustls::rustls;

use super::Faults;
use crate::control_plane::pki::Pki;

/// The webhook's name (also the configuration's).
pub const NAME: &str = "faults.sandbox.cnpgops.io";

/// The request lines a client may have sent for an AdmissionRequest: (verb, path) each.
/// Admission sees a PATCH as an UPDATE, and a server-side apply that creates as a CREATE, so an
/// UPDATE stands for PATCH and PUT of the object, a CREATE for a POST to the collection or a
/// PATCH of the object.
pub fn request_lines(req: &Value) -> Vec<(&'static str, String)> {
    let op = req["operation"].as_str().unwrap_or_default();
    let r = &req["resource"];
    let (group, version, resource) = (
        r["group"].as_str().unwrap_or_default(),
        r["version"].as_str().unwrap_or_default(),
        r["resource"].as_str().unwrap_or_default(),
    );
    let mut collection = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    if let Some(ns) = req["namespace"].as_str().filter(|n| !n.is_empty()) {
        collection.push_str(&format!("/namespaces/{ns}"));
    }
    collection.push_str(&format!("/{resource}"));
    let mut object = collection.clone();
    if let Some(name) = req["name"].as_str().filter(|n| !n.is_empty()) {
        object.push_str(&format!("/{name}"));
    }
    if let Some(sub) = req["subResource"].as_str().filter(|s| !s.is_empty()) {
        object.push_str(&format!("/{sub}"));
    }
    match op {
        "CREATE" => vec![("POST", collection), ("PATCH", object)],
        "DELETE" => vec![("DELETE", object)],
        _ => vec![("PATCH", object.clone()), ("PUT", object)],
    }
}

/// The AdmissionReview answer for `review`: allowed, or denied with a planned fault.
pub fn answer(faults: &Faults, user: &str, review: &Value) -> Value {
    let req = &review["request"];
    let uid = req["uid"].clone();
    let mut response = json!({"uid": uid, "allowed": true});
    // Dry runs never reach storage, where the failures planned here stand for happen.
    let dry_run = req["dryRun"].as_bool().unwrap_or(false);
    if !dry_run && req.pointer("/userInfo/username").and_then(Value::as_str) == Some(user) {
        let lines = request_lines(req);
        if let Some((code, reason, message)) = lines.iter().find_map(|(v, p)| faults.check(v, p)) {
            response = json!({"uid": uid, "allowed": false,
                "status": {"status": "Failure", "code": code, "reason": reason, "message": message}});
        }
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// Serves the webhook on `ip` (a free port) until the task is aborted; returns its address.
pub async fn serve(
    faults: Arc<Faults>,
    user: String,
    pki: &Pki,
    ip: IpAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let cert = pki.serving("faults-webhook", "faults-webhook", &[ip.to_string()])?;
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(
        &cert.cert,
    )?))
    .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(std::fs::File::open(
        &cert.key,
    )?))?
    .context("no key in the webhook's key file")?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, faults, user) = (acceptor.clone(), faults.clone(), user.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (faults, user) = (faults.clone(), user.clone());
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let review: Value = serde_json::from_slice(&body).unwrap_or_default();
                        let out = serde_json::to_vec(&answer(&faults, &user, &review))
                            .unwrap_or_default();
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(out))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

/// Registers the webhook for every write of every resource (failurePolicy Ignore: a stopped
/// webhook faults nothing) and waits until the apiserver calls it.
pub async fn register(client: &kube::Client, addr: SocketAddr, pki: &Pki) -> anyhow::Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&pki.ca.cert)?);
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": NAME},
        "webhooks": [{
            "name": NAME, "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Ignore", "timeoutSeconds": 5, "matchPolicy": "Equivalent",
            "clientConfig": {"url": format!("https://{addr}/faults"), "caBundle": ca},
            "rules": [{"operations": ["CREATE", "UPDATE", "DELETE"], "apiGroups": ["*"],
                "apiVersions": ["*"], "resources": ["*/*"], "scope": "*"}],
        }],
    }))?;
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    api.patch(
        NAME,
        &PatchParams::apply("cnpgops-sandbox").force(),
        &Patch::Apply(&config),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(op: &str, sub: &str) -> Value {
        json!({"request": {"uid": "u", "operation": op, "namespace": "databases", "name": "shop-a",
            "subResource": sub, "userInfo": {"username": "admin"},
            "resource": {"group": "postgresql.cnpg.io", "version": "v1", "resource": "clusters"}}})
    }

    #[test]
    fn an_apply_that_creates_is_faulted_as_the_patch_the_client_sent() {
        let faults = Faults::default();
        faults.add(super::super::Fault {
            verb: "PATCH".into(),
            path: "/clusters/shop-a".into(),
            status: 503,
            count: 1,
            message: None,
        });
        let out = answer(&faults, "admin", &review("CREATE", ""));
        assert_eq!(out["response"]["allowed"], false);
        assert_eq!(out["response"]["status"]["code"], 503);
        assert_eq!(
            answer(&faults, "admin", &review("CREATE", ""))["response"]["allowed"],
            true,
            "used up"
        );
    }

    #[test]
    fn a_dry_run_is_never_faulted() {
        let faults = Faults::default();
        faults.add(super::super::Fault {
            verb: "POST".into(),
            path: "/clusters".into(),
            status: 500,
            count: 1,
            message: None,
        });
        let mut r = review("CREATE", "");
        r["request"]["dryRun"] = json!(true);
        assert_eq!(answer(&faults, "admin", &r)["response"]["allowed"], true);
        assert_eq!(faults.pending(), 1);
    }

    #[test]
    fn other_users_and_unmatched_writes_pass() {
        let faults = Faults::default();
        faults.add(super::super::Fault {
            verb: "PATCH".into(),
            path: "/clusters/shop-a/status".into(),
            status: 500,
            count: 1,
            message: None,
        });
        assert_eq!(
            answer(&faults, "someone-else", &review("UPDATE", "status"))["response"]["allowed"],
            true
        );
        assert_eq!(
            answer(&faults, "admin", &review("UPDATE", ""))["response"]["allowed"],
            true
        );
        assert_eq!(
            answer(&faults, "admin", &review("UPDATE", "status"))["response"]["allowed"],
            false
        );
    }
}
