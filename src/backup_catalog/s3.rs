//! S3 access for the catalog: aws-sdk-s3 with the keys from the Cluster's Secret, path-style
//! addressing for a custom endpoint, the endpoint's CA when given, standard retries with
//! exponential backoff (503 SlowDown is a throttling error the SDK retries), and a count of
//! every HTTP request sent (retries included), so callers can prove what a read costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};

use super::error::CatalogError;
use crate::k8s::ObjectRef;
use crate::redact::{ExposeSecret, SecretString};

/// Attempts per request, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 6;
/// Codes meaning the keys are wrong or not allowed.
const DENIED: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
];

/// Where and as whom to connect. Secret values only as [`SecretString`].
pub(crate) struct Connection {
    /// `endpointURL`; `None`: AWS S3.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: SecretString,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
    /// PEM bundle from `endpointCA`.
    pub ca_pem: Option<Vec<u8>>,
    /// Where the keys came from, for messages (`Secret databases/s3-creds`).
    pub credentials_from: String,
    /// The Cluster, for messages.
    pub cluster: ObjectRef,
    /// The first retry waits this long (then doubling, with jitter).
    pub initial_backoff: Duration,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    pub key: String,
    pub last_modified: Option<DateTime<Utc>>,
    pub size: i64,
    pub etag: Option<String>,
}

/// A bucket with a request counter.
#[derive(Clone)]
pub(crate) struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
    endpoint: String,
    credentials_from: String,
    cluster: ObjectRef,
    requests: Arc<AtomicU64>,
}

/// Counts every HTTP request (each retry attempt too).
#[derive(Debug)]
struct Counter(Arc<AtomicU64>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "cnpgops-request-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl S3 {
    /// A client for `bucket` as `conn` describes.
    pub(crate) fn new(conn: &Connection, bucket: &str) -> Result<Self, CatalogError> {
        let requests = Arc::new(AtomicU64::new(0));
        let creds = Credentials::new(
            conn.access_key_id.expose_secret(),
            conn.secret_access_key.expose_secret(),
            conn.session_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            None,
            "cnpgops-cluster-secret",
        );
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(conn.region.clone()))
            .credentials_provider(creds)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(conn.initial_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            )
            .interceptor(Counter(requests.clone()));
        if let Some(endpoint) = &conn.endpoint {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
        }
        if let Some(pem) = &conn.ca_pem {
            builder = builder.http_client(https_with_ca(pem, conn)?);
        }
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: bucket.to_string(),
            endpoint: conn.endpoint.clone().unwrap_or_else(|| "AWS S3".into()),
            credentials_from: conn.credentials_from.clone(),
            cluster: conn.cluster.clone(),
            requests,
        })
    }

    /// HTTP requests sent so far (retries included).
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The endpoint as messages name it (`AWS S3` without `endpointURL`).
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `s3://bucket/key`.
    pub(crate) fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The "directories" (common prefixes, without `prefix` and `/`) and the objects directly
    /// under `prefix`, every page.
    pub(crate) async fn list_dirs(
        &self,
        prefix: &str,
    ) -> Result<(Vec<String>, Vec<Object>), CatalogError> {
        let (mut dirs, mut files, mut token) = (Vec::new(), Vec::new(), None);
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.fail("list", prefix, e))?;
            for p in out.common_prefixes() {
                if let Some(dir) = p.prefix().and_then(|d| d.strip_prefix(prefix)) {
                    dirs.push(dir.trim_end_matches('/').to_string());
                }
            }
            files.extend(out.contents().iter().filter_map(object));
            token = out.next_continuation_token().map(String::from);
            if token.is_none() || out.is_truncated() != Some(true) {
                return Ok((dirs, files));
            }
        }
    }

    /// Objects under `prefix` in key order: every page, or only the first `limit` keys.
    pub(crate) async fn list(
        &self,
        prefix: &str,
        limit: Option<i32>,
    ) -> Result<Vec<Object>, CatalogError> {
        let (mut all, mut token) = (Vec::new(), None);
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_max_keys(limit)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.fail("list", prefix, e))?;
            all.extend(out.contents().iter().filter_map(object));
            token = out.next_continuation_token().map(String::from);
            if limit.is_some() || token.is_none() || out.is_truncated() != Some(true) {
                return Ok(all);
            }
        }
    }

    /// The object's text; `None` when it does not exist.
    pub(crate) async fn get_text(&self, key: &str) -> Result<Option<String>, CatalogError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
            Err(e) => return Err(self.fail("read", key, e)),
        };
        let bytes = out.body.collect().await.map_err(|e| CatalogError::S3 {
            action: "read",
            url: self.url(key),
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })?;
        Ok(Some(
            String::from_utf8_lossy(&bytes.into_bytes()).into_owned(),
        ))
    }

    /// Turns an SDK error into one that names the place, the Secret and the server's code.
    fn fail<E>(&self, action: &'static str, key: &str, err: SdkError<E>) -> CatalogError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or_default().to_string();
        let message = err.message().unwrap_or_default().to_string();
        if DENIED.contains(&code.as_str()) {
            return CatalogError::Denied {
                endpoint: self.endpoint.clone(),
                credentials: self.credentials_from.clone(),
                url: self.url(key),
                code,
                message,
            };
        }
        if code == "NoSuchBucket" {
            return CatalogError::NoBucket {
                bucket: self.bucket.clone(),
                endpoint: self.endpoint.clone(),
                cluster: self.cluster.to_string(),
            };
        }
        let detail = match (&err, code.is_empty()) {
            (SdkError::ServiceError(_), false) => format!("{code}: {message}"),
            _ => DisplayErrorContext(&err).to_string(),
        };
        CatalogError::S3 {
            action,
            url: self.url(key),
            endpoint: self.endpoint.clone(),
            detail,
        }
    }
}

fn object(o: &aws_sdk_s3::types::Object) -> Option<Object> {
    Some(Object {
        key: o.key()?.to_string(),
        last_modified: o
            .last_modified()
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        size: o.size().unwrap_or(0),
        etag: o.e_tag().map(String::from),
    })
}

/// An HTTPS client trusting `pem` (the store's `endpointCA`) besides the system roots.
fn https_with_ca(
    pem: &[u8],
    conn: &Connection,
) -> Result<aws_sdk_s3::config::SharedHttpClient, CatalogError> {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let store = TrustStore::default().with_pem_certificate(pem.to_vec());
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| CatalogError::BadStore {
            cluster: conn.cluster.clone(),
            message: format!("endpointCA is not a usable PEM bundle: {e}"),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

#[cfg(test)]
mod tests;
