//! PostgreSQL from cnpgops itself (tokio-postgres): connecting to a CNPG cluster's primary
//! ([`connect`]), and the inventories a refresh is verified with ([`inventory`], with the
//! [`definitions`] of indexes, constraints, triggers, policies and columns).
//!
//! Outside the cluster the connection goes through a port-forward to the primary Pod; inside
//! (a CronJob whose kube configuration is its own service account) straight to the
//! `<cluster>-rw` Service. Every connection has the limits of [`settings`] and is checked to
//! reach the Cluster's own server ([`identity`]). TLS is used when the cluster has a
//! `<cluster>-ca` Secret (as real CNPG always does), verified against that CA; plain otherwise.

pub(crate) mod connect;
pub(crate) mod definitions;
pub(crate) mod extensions;
pub(crate) mod identity;
pub(crate) mod inventory;
pub(crate) mod locks;
pub(crate) mod progress;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod snapshot;

pub(crate) use connect::Endpoint;

/// Why a PostgreSQL operation failed; each variant names the cluster or object.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    #[error(
        "failed to connect to database `{database}` of Cluster {namespace}/{cluster} (via {via})"
    )]
    Connect {
        namespace: String,
        cluster: String,
        database: String,
        via: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("failed to run `{what}` on Cluster {cluster}")]
    Query {
        cluster: String,
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("failed to set up TLS for Cluster {cluster}: {message}")]
    Tls { cluster: String, message: String },
    #[error("failed to read {object} to check the server's identity")]
    Identity {
        object: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "refused: the server reached for Cluster {namespace}/{cluster} has system identifier {found}, but the Cluster's status.systemID is {expected}: this connection leads to another cluster's database (a kube context or --context pointing elsewhere, or a Service name resolving in another cluster). Nothing was written; check --kubeconfig/--context"
    )]
    WrongServer {
        namespace: String,
        cluster: String,
        expected: String,
        found: String,
    },
}

impl PgError {
    /// Whether the server refused the password (SQLSTATE 28P01 `invalid_password`): after a
    /// recovery CNPG writes a new `-app` Secret, and its instance manager sets that password
    /// only once the instance is up (`refreshCredentialsFromSecret`), so for a short while the
    /// Secret's password is not yet the server's.
    pub(crate) fn password_refused(&self) -> bool {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = next {
            if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
                if pg.code() == Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD) {
                    return true;
                }
            }
            next = e.source();
        }
        false
    }
}

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(super::quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(super::quote_literal("it's"), "'it''s'");
    }
}
