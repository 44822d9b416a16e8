//! Connecting to a CNPG cluster's database as the owner in its credentials Secret.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls};

use super::PgError;
use crate::k8s::Kube;
use crate::redact::{Redactor, SecretString};

/// Where and as whom to connect. The password never prints (it is a [`SecretString`]).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub namespace: String,
    pub cluster: String,
    /// The primary instance Pod (port-forward target).
    pub pod: String,
    pub database: String,
    pub user: String,
    pub password: SecretString,
    /// PEM of the server CA's `ca.crt` (`spec.certificates.serverCASecret`, else
    /// `<cluster>-ca`), when the cluster serves TLS.
    pub ca: Option<Vec<u8>>,
    /// Every transaction read-only (`default_transaction_read_only=on`): for the source.
    pub read_only: bool,
}

fn secret_key(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        })
}

/// Reads the credentials Secret (teaching its password to `redactor`) and the optional CA.
pub(crate) async fn endpoint(
    kube: &Kube,
    redactor: &Redactor,
    namespace: &str,
    cluster: &str,
    pod: &str,
    database: &str,
    secret: &str,
) -> Result<Endpoint, crate::k8s::K8sError> {
    use crate::k8s::{K8sError, ObjectRef};
    let secrets: Api<Secret> = Api::namespaced(kube.client.clone(), namespace);
    let object = ObjectRef::new("Secret", Some(namespace), secret);
    let found = secrets
        .get_opt(secret)
        .await
        .map_err(K8sError::api("read", &object))?
        .ok_or_else(|| K8sError::NotFound {
            object: object.clone(),
        })?;
    let text = |key: &str| secret_key(&found, key).and_then(|b| String::from_utf8(b).ok());
    let missing = |key: &str| K8sError::Invalid {
        object: object.clone(),
        message: format!("it has no key `{key}`"),
    };
    let password = SecretString::from(text("password").ok_or_else(|| missing("password"))?);
    redactor.learn(&password);
    // The server's CA: `spec.certificates.serverCASecret`, else `<cluster>-ca`.
    let ca = crate::k8s::cluster_access::read(kube, namespace, cluster)
        .await?
        .ca_pem;
    Ok(Endpoint {
        namespace: namespace.into(),
        cluster: cluster.into(),
        pod: pod.into(),
        database: database.into(),
        user: text("username").ok_or_else(|| missing("username"))?,
        password,
        ca,
        read_only: false,
    })
}

/// A connected client; its connection task (and port-forward) lives as long as the client.
/// Within the connect timeout of [`super::settings`], with keepalives and a
/// `statement_timeout`; in-cluster (the kube configuration is the Pod's own) straight to the
/// `-rw` Service, else through a port-forward to the primary Pod.
pub(crate) async fn connect(kube: &Kube, ep: &Endpoint) -> Result<Client, PgError> {
    let host = service_host(&ep.namespace, &ep.cluster);
    if kube.in_cluster {
        return connect_direct(ep, &host, PORT).await;
    }
    let limits = super::settings::get();
    let via = via(kube, &ep.namespace, &ep.cluster, &ep.pod);
    let fail = failure(ep, &via);
    let work = async {
        let pods: Api<Pod> = Api::namespaced(kube.client.clone(), &ep.namespace);
        let mut forward = pods
            .portforward(&ep.pod, &[PORT])
            .await
            .map_err(|e| fail(Box::new(e)))?;
        let stream = forward
            .take_stream(PORT)
            .ok_or_else(|| fail("the port-forward gave no stream".into()))?;
        handshake(&limits.config_for(ep), stream, ep, &host, forward, fail).await
    };
    within(limits.connect_timeout, work, || fail(late(&limits))).await
}

/// PostgreSQL's port on the instances and the `-rw` Service.
const PORT: u16 = 5432;

/// The Cluster's `-rw` Service: what in-cluster connections reach and TLS verifies.
fn service_host(namespace: &str, cluster: &str) -> String {
    format!("{cluster}-rw.{namespace}.svc")
}

/// How [`connect`] reaches the primary `pod` of Cluster `namespace/cluster` through `kube`, as
/// its messages name it: `Service <cluster>-rw.<namespace>.svc:5432` in-cluster, else
/// `port-forward to Pod <namespace>/<pod>:5432`.
pub(crate) fn via(kube: &Kube, namespace: &str, cluster: &str, pod: &str) -> String {
    if kube.in_cluster {
        format!("Service {}:{PORT}", service_host(namespace, cluster))
    } else {
        format!("port-forward to Pod {namespace}/{pod}:{PORT}")
    }
}

/// Straight to `host:port` (in-cluster: the `-rw` Service), with keepalives on the socket.
pub(crate) async fn connect_direct(
    ep: &Endpoint,
    host: &str,
    port: u16,
) -> Result<Client, PgError> {
    let limits = super::settings::get();
    let via = format!("Service {host}:{port}");
    let fail = failure(ep, &via);
    let work = async {
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| fail(Box::new(e)))?;
        limits.keep_alive(&stream).map_err(|e| fail(Box::new(e)))?;
        handshake(&limits.config_for(ep), stream, ep, host, (), fail).await
    };
    within(limits.connect_timeout, work, || fail(late(&limits))).await
}

/// The error for `ep` reached `via` something.
fn failure<'a>(
    ep: &'a Endpoint,
    via: &'a str,
) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> PgError + Copy + 'a {
    move |source| PgError::Connect {
        namespace: ep.namespace.clone(),
        cluster: ep.cluster.clone(),
        database: ep.database.clone(),
        via: via.to_string(),
        source,
    }
}

fn late(limits: &super::settings::Limits) -> Box<dyn std::error::Error + Send + Sync> {
    format!(
        "no answer within the connect timeout of {} (--pg-connect-timeout)",
        humantime::format_duration(limits.connect_timeout)
    )
    .into()
}

/// `work`, or `late()` once `limit` has passed.
pub(crate) async fn within<T, E>(
    limit: std::time::Duration,
    work: impl std::future::Future<Output = Result<T, E>>,
    late: impl FnOnce() -> E,
) -> Result<T, E> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(late()))
}

/// The startup (TLS when there is a CA) over `stream`; `keep` lives with the connection.
async fn handshake<S, K, F>(
    config: &tokio_postgres::Config,
    stream: S,
    ep: &Endpoint,
    host: &str,
    keep: K,
    fail: F,
) -> Result<Client, PgError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    K: Send + 'static,
    F: Fn(Box<dyn std::error::Error + Send + Sync>) -> PgError,
{
    let Some(ca) = &ep.ca else {
        let (client, conn) = config
            .connect_raw(stream, NoTls)
            .await
            .map_err(|e| fail(Box::new(e)))?;
        tokio::spawn(async move {
            let _keep = keep;
            let _ = conn.await;
        });
        return Ok(client);
    };
    let mut make = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(&ep.cluster, ca)?);
    let tls = <tokio_postgres_rustls::MakeRustlsConnect as MakeTlsConnect<S>>::make_tls_connect(
        &mut make, host,
    )
    .map_err(|e| fail(Box::new(e)))?;
    let mut config = config.clone();
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    let (client, conn) = config
        .connect_raw(stream, tls)
        .await
        .map_err(|e| fail(Box::new(e)))?;
    tokio::spawn(async move {
        let _keep = keep;
        let _ = conn.await;
    });
    Ok(client)
}

/// A rustls client trusting only the cluster's CA.
fn tls_config(cluster: &str, ca: &[u8]) -> Result<rustls::ClientConfig, PgError> {
    let err = |message: String| PgError::Tls {
        cluster: cluster.into(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca[..]) {
        let cert = cert.map_err(|e| err(format!("bad ca.crt: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| err(format!("bad ca.crt: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A database as step inputs name it (what `cnpg.cluster` outputs as `connection`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub(crate) struct Target {
    pub namespace: String,
    pub cluster: String,
    pub pod: String,
    pub database: String,
    pub secret: String,
}

impl Target {
    /// From a step input holding the object.
    pub(crate) fn from_input(
        inputs: &crate::engine::Inputs,
        name: &str,
    ) -> Result<Self, crate::engine::StepError> {
        let value = inputs
            .get(name)
            .cloned()
            .ok_or_else(|| crate::engine::StepError::input(name, "missing"))?;
        serde_json::from_value(value).map_err(|e| {
            crate::engine::StepError::input(
                name,
                &format!("expected {{namespace, cluster, pod, database, secret}}: {e}"),
            )
        })
    }

    /// `database `app` of Cluster databases/app-cnpg`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "database `{}` of Cluster {}/{}",
            self.database, self.namespace, self.cluster
        )
    }

    /// Connects as the owner in `secret` (read-only when asked), and refuses a server that is
    /// not the Cluster's (its system identifier differs from `status.systemID`).
    pub(crate) async fn open(
        &self,
        kube: &Kube,
        redactor: &Redactor,
        read_only: bool,
    ) -> Result<Client, crate::engine::StepError> {
        self.try_open(kube, redactor, read_only)
            .await
            .map_err(OpenFailure::into_step_error)
    }

    /// [`Target::open`], keeping PostgreSQL's own error for a caller that tells them apart.
    pub(crate) async fn try_open(
        &self,
        kube: &Kube,
        redactor: &Redactor,
        read_only: bool,
    ) -> Result<Client, OpenFailure> {
        let mut ep = endpoint(
            kube,
            redactor,
            &self.namespace,
            &self.cluster,
            &self.pod,
            &self.database,
            &self.secret,
        )
        .await
        .map_err(|e| OpenFailure::Setup(e.into()))?;
        ep.read_only = read_only;
        let client = connect(kube, &ep).await.map_err(OpenFailure::Pg)?;
        super::identity::check(kube, &client, &ep)
            .await
            .map_err(OpenFailure::Pg)?;
        Ok(client)
    }
}

/// Why [`Target::try_open`] failed: before reaching the server (the Secret, the CA), or
/// PostgreSQL's answer.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    /// Reading what the connection needs failed.
    Setup(crate::engine::StepError),
    /// The connection or the identity check failed.
    Pg(PgError),
}

impl OpenFailure {
    /// The step error [`Target::open`] reports: a wrong server is refused, the rest failed.
    pub(crate) fn into_step_error(self) -> crate::engine::StepError {
        match self {
            Self::Setup(e) => e,
            Self::Pg(e @ PgError::WrongServer { .. }) => {
                crate::engine::StepError::Refused(e.to_string())
            }
            Self::Pg(e) => crate::engine::StepError::Failed(crate::error::chain(&e)),
        }
    }
}

/// Database `app` of Cluster `db/c` as user `app`, for tests.
#[cfg(test)]
pub(crate) fn endpoint_for_tests(password: &str, read_only: bool) -> Endpoint {
    Endpoint {
        namespace: "db".into(),
        cluster: "c".into(),
        pod: "c-1".into(),
        database: "app".into(),
        user: "app".into(),
        password: SecretString::from(password.to_string()),
        ca: None,
        read_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_trusts_the_clusters_ca_and_rejects_a_bad_one() {
        let ca = include_bytes!("testdata/ca.crt");
        assert!(tls_config("c", ca).is_ok());
        let err = tls_config(
            "c",
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Cluster c") && err.contains("ca.crt"), "{err}");
    }

    #[tokio::test]
    async fn a_server_that_accepts_but_never_answers_fails_within_the_connect_timeout() {
        super::super::settings::set(super::super::settings::Limits {
            connect_timeout: std::time::Duration::from_millis(500),
            ..Default::default()
        });
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = vec![];
            while let Ok((socket, _)) = silent.accept().await {
                open.push(socket); // accepted, never answered
            }
        });
        let ep = endpoint_for_tests("pw", false);
        let t0 = std::time::Instant::now();
        let err = connect_direct(&ep, "127.0.0.1", port).await.unwrap_err();
        let took = t0.elapsed();
        held.abort();
        let text = crate::error::chain(&err);
        assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
        assert!(
            took >= std::time::Duration::from_millis(400),
            "took {took:?}"
        );
        assert!(
            text.contains("connect timeout") && text.contains("Cluster db/c"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn in_cluster_the_rw_service_is_reached_else_a_port_forward_to_the_primary() {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let mut kube = Kube {
            client: kube::Client::try_from(config).unwrap(),
            namespace: "db".into(),
            in_cluster: true,
        };
        assert_eq!(via(&kube, "db", "c", "c-2"), "Service c-rw.db.svc:5432");
        kube.in_cluster = false;
        assert_eq!(
            via(&kube, "db", "c", "c-2"),
            "port-forward to Pod db/c-2:5432"
        );
    }

    #[test]
    fn targets_describe_themselves_and_passwords_stay_hidden() {
        let ep = endpoint_for_tests("hunter2-very-secret", true);
        assert!(!format!("{ep:?}").contains("hunter2"));
    }
}
