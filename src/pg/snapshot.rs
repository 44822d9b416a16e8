//! An exported snapshot of the source: pg_dump dumps exactly it (`--snapshot`), and the
//! source's inventory is read in it meanwhile, so verification compares the target with what
//! was dumped, not with a live prod that kept changing (and the counting overlaps the restore).

use tokio_postgres::Client;

use super::inventory::{self, Inventory};
use super::PgError;

/// A read-only repeatable-read transaction holding an exported snapshot open.
pub(crate) struct Snapshot {
    client: Client,
    cluster: String,
    /// The name pg_dump's `--snapshot` takes.
    pub id: String,
}

impl Snapshot {
    /// Opens the transaction on `client` (a connection to the source) and exports it.
    pub(crate) async fn export(client: Client, cluster: &str) -> Result<Self, PgError> {
        let q = |what: &str| {
            let (cluster, what) = (cluster.to_string(), what.to_string());
            move |source| PgError::Query {
                cluster,
                what,
                source,
            }
        };
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(q("begin a repeatable-read transaction"))?;
        let row = client
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .map_err(q("export a snapshot"))?;
        Ok(Self {
            id: row.get(0),
            client,
            cluster: cluster.into(),
        })
    }

    /// The source's inventory as of the snapshot.
    pub(crate) async fn inventory(&self, checksums: bool) -> Result<Inventory, PgError> {
        inventory::read(
            &self.client,
            &self.cluster,
            inventory::Rows::counts_or_checksums(checksums),
        )
        .await
    }
}
