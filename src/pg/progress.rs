//! PostgreSQL's progress views during a refresh: bytes a `COPY` has moved so far
//! (`pg_stat_progress_copy`, on the source while pg_dump reads and on the target while the
//! restore writes) and index builds (`pg_stat_progress_create_index`, on the target).

use tokio_postgres::Client;

/// Bytes copied by the sessions on the current database, and running index builds.
const COPY: &str =
    "SELECT coalesce(sum(bytes_processed), 0)::bigint, count(*) FROM pg_stat_progress_copy \
    WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())";
const INDEX: &str = "SELECT coalesce(string_agg(phase || ' ' || blocks_done || '/' || blocks_total || ' blocks', ', '), '') \
    FROM pg_stat_progress_create_index WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// One reading of one side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reading {
    /// Bytes the running COPY commands have processed.
    pub copied: i64,
    /// Running COPY commands.
    pub copies: i64,
    /// Index builds, as `phase done/total blocks`.
    pub indexes: String,
}

pub(crate) async fn read(client: &Client) -> Result<Reading, tokio_postgres::Error> {
    let copy = client.query_one(COPY, &[]).await?;
    let index = client.query_one(INDEX, &[]).await?;
    Ok(Reading {
        copied: copy.get(0),
        copies: copy.get(1),
        indexes: index.get(0),
    })
}
