//! `--notify URL`: one Slack-compatible webhook message (`{"text": ...}`) at the end of a run,
//! success or failure, redacted like every other sink.
//!
//! The URL is itself a secret (a Slack webhook's path is its token): [`WebhookUrl`] never prints
//! it, and [`WebhookUrl::teach`] registers it (and its path) with the redactor, so an error
//! about the webhook cannot leak it either.

use std::str::FromStr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::engine::Report;
use crate::redact::Redactor;

/// A webhook URL that cannot be printed.
#[derive(Clone)]
pub(crate) struct WebhookUrl(SecretString);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(********)")
    }
}

impl FromStr for WebhookUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<hyper::Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
                Ok(Self(SecretString::from(s.to_string())))
            }
            _ => Err("expected an http(s) URL (the value is not shown: it is a secret)".into()),
        }
    }
}

impl WebhookUrl {
    /// Registers the URL and its path + query (the token part) with `redactor`.
    pub(crate) fn teach(&self, redactor: &Redactor) {
        let url = self.0.expose_secret();
        redactor.learn_str(url);
        if let Ok(uri) = url.parse::<hyper::Uri>() {
            if let Some(pq) = uri.path_and_query().map(|p| p.as_str()) {
                if pq.len() > 1 {
                    redactor.learn_str(pq.trim_start_matches('/'));
                }
            }
        }
    }
}

/// Why the message could not be delivered (never naming the URL).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotifyError {
    #[error("failed to set up TLS for the webhook")]
    Tls(#[source] std::io::Error),
    #[error("failed to build the webhook request")]
    Request(#[source] hyper::http::Error),
    #[error("failed to reach the webhook")]
    Send(#[source] hyper_util::client::legacy::Error),
    #[error("timed out after 10s posting to the webhook")]
    TimedOut,
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
}

/// The message for a finished run (or a command that failed before its run ended).
pub(crate) fn message(command: &str, report: Option<&Report>, error: Option<&str>) -> String {
    let Some(r) = report else {
        return format!(
            "cnpgops {command}: failed before a run ended: {}",
            error.unwrap_or("unknown error")
        );
    };
    let status = serde_json::to_value(r.status)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut text = format!(
        "cnpgops {command}: run {} of {} ({}) {status} in {:.1}s",
        r.run_id,
        r.runbook,
        r.mode,
        r.duration_ms as f64 / 1000.0
    );
    for s in r.steps.iter().filter(|s| s.error.is_some()) {
        text.push_str(&format!(
            "\nstep {}: {}",
            s.id,
            s.error.as_deref().unwrap_or("")
        ));
    }
    if let Some(m) = &r.message {
        text.push_str(&format!("\n{m}"));
    }
    if let Some(resume) = &r.resume {
        text.push_str(&format!("\nto continue: {resume}"));
    }
    text
}

/// POSTs `{"text": text}` (redacted) to `url`, once, within 10 seconds.
pub(crate) async fn send(
    url: &WebhookUrl,
    text: &str,
    redactor: &Redactor,
) -> Result<(), NotifyError> {
    let body = json!({ "text": redactor.redact(text) }).to_string();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(NotifyError::Tls)?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Full<Bytes>>(https);
    let request = hyper::Request::post(url.0.expose_secret())
        .header("content-type", "application/json")
        .header("user-agent", concat!("cnpgops/", env!("CARGO_PKG_VERSION")))
        .body(Full::from(body))
        .map_err(NotifyError::Request)?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| NotifyError::TimedOut)?
        .map_err(NotifyError::Send)?;
    match response.status().as_u16() {
        200..=299 => Ok(()),
        code => Err(NotifyError::Status(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_a_secret() {
        let url: WebhookUrl = "https://hooks.example.com/services/T000/B000/tok3nV4lue"
            .parse()
            .unwrap();
        assert!(!format!("{url:?}").contains("tok3n"));
        let redactor = Redactor::new();
        url.teach(&redactor);
        let text = redactor.redact("POST services/T000/B000/tok3nV4lue failed");
        assert!(!text.contains("tok3n"), "{text}");
        let err = "ftp://x".parse::<WebhookUrl>().unwrap_err();
        assert!(!err.contains("ftp://x"));
    }

    #[test]
    fn without_a_report_the_error_is_told() {
        let m = message("refresh-dev", None, Some("lock held"));
        assert_eq!(
            m,
            "cnpgops refresh-dev: failed before a run ended: lock held"
        );
    }
}
