//! Is this the right server? The system identifier PostgreSQL reports
//! (`pg_control_system()`) must be the one CNPG recorded for the Cluster (`status.systemID`),
//! so a kube context pointing at another cluster (or a Service name resolving in the wrong
//! one) cannot make cnpgops read or write another database. A Cluster that has no
//! `status.systemID` yet (CNPG sets it once the first instance is up) is not checked.

use tokio_postgres::Client;

use super::{Endpoint, PgError};
use crate::k8s::{resources, Kube};

/// Refuses ([`PgError::WrongServer`]) when `client`'s server is not `ep`'s Cluster.
pub(crate) async fn check(kube: &Kube, client: &Client, ep: &Endpoint) -> Result<(), PgError> {
    let Some(expected) = recorded(kube, ep).await? else {
        return Ok(());
    };
    let found: i64 = client
        .query_one("SELECT system_identifier FROM pg_control_system()", &[])
        .await
        .map_err(|source| PgError::Query {
            cluster: format!("{}/{}", ep.namespace, ep.cluster),
            what: "SELECT system_identifier FROM pg_control_system()".into(),
            source,
        })?
        .get(0);
    compare(ep, &expected, &found.to_string())
}

/// The Cluster's `status.systemID`, if CNPG recorded one.
async fn recorded(kube: &Kube, ep: &Endpoint) -> Result<Option<String>, PgError> {
    let kind = resources::known("Cluster", None)
        .unwrap_or_else(|| unreachable!("Cluster is a known kind"));
    let object = kind.object(&ep.namespace, &ep.cluster);
    let cluster = kind
        .api(kube, &ep.namespace)
        .get_opt(&ep.cluster)
        .await
        .map_err(|e| PgError::Identity {
            object: object.to_string(),
            source: Box::new(e),
        })?;
    Ok(cluster
        .and_then(|c| c.data.pointer("/status/systemID").cloned())
        .and_then(|v| v.as_str().map(String::from))
        .filter(|s| !s.is_empty()))
}

fn compare(ep: &Endpoint, expected: &str, found: &str) -> Result<(), PgError> {
    if expected == found {
        return Ok(());
    }
    Err(PgError::WrongServer {
        namespace: ep.namespace.clone(),
        cluster: ep.cluster.clone(),
        expected: expected.into(),
        found: found.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_server_is_refused_naming_both_identifiers() {
        let ep = crate::pg::connect::endpoint_for_tests("x", false);
        assert!(compare(&ep, "7301", "7301").is_ok());
        let err = compare(&ep, "7301", "9999").unwrap_err().to_string();
        assert!(err.contains("Cluster db/c"), "{err}");
        assert!(err.contains("7301") && err.contains("9999"), "{err}");
        assert!(err.contains("--context"), "{err}");
    }
}
