//! PostgreSQL's progress views during a refresh: each running `COPY` with its table, bytes and
//! rows so far (`pg_stat_progress_copy`, on the source while pg_dump reads and on the target
//! while the restore writes) and each index build with its phase and blocks
//! (`pg_stat_progress_create_index`, on the target). A table the restore created in its own,
//! uncommitted transaction is named by its OID (another session cannot see its name).

use tokio_postgres::Client;

const COPY: &str = "SELECT relid::regclass::text, bytes_processed, tuples_processed \
    FROM pg_stat_progress_copy \
    WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid";
/// The index, or its table while the index has no OID yet (a constraint's index being built).
const INDEX: &str = "SELECT coalesce(nullif(index_relid, 0), relid)::regclass::text, phase, blocks_done, blocks_total \
    FROM pg_stat_progress_create_index \
    WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid";

/// One running `COPY`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Copying {
    pub table: String,
    pub bytes: i64,
    pub rows: i64,
}

/// One running index build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Building {
    pub index: String,
    pub phase: String,
    pub blocks_done: i64,
    pub blocks_total: i64,
}

/// One reading of one side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reading {
    pub copies: Vec<Copying>,
    pub indexes: Vec<Building>,
}

pub(crate) async fn read(client: &Client) -> Result<Reading, tokio_postgres::Error> {
    let copies = client.query(COPY, &[]).await?;
    let indexes = client.query(INDEX, &[]).await?;
    Ok(Reading {
        copies: copies
            .iter()
            .map(|r| Copying {
                table: r.get(0),
                bytes: r.get(1),
                rows: r.get(2),
            })
            .collect(),
        indexes: indexes
            .iter()
            .map(|r| Building {
                index: r.get(0),
                phase: r.get(1),
                blocks_done: r.get(2),
                blocks_total: r.get(3),
            })
            .collect(),
    })
}
