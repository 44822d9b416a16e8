//! PostgreSQL's progress views during a refresh: each running `COPY` with its table, bytes and
//! rows so far (`pg_stat_progress_copy`, on the source while pg_dump reads and on the target
//! while the restore writes) and each index build with its phase and blocks
//! (`pg_stat_progress_create_index`, on the target). A table or index the restore created in
//! its own, uncommitted transaction is invisible to another session's catalogs (its OID has no
//! name there): it is named from the statement running (`pg_stat_activity.query`, visible to
//! the same role: `COPY shop.orders (...) FROM stdin`, `CREATE INDEX i ON t ...`).

use tokio_postgres::Client;

/// `relid` named by the catalogs when they can see it, else by `pattern`'s first group in the
/// running statement (white space folded), else its OID.
macro_rules! named {
    ($oid:expr, $pattern:expr) => {
        concat!(
            "CASE WHEN EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = ",
            $oid,
            ") THEN ",
            $oid,
            "::regclass::text ELSE coalesce(regexp_replace(substring(a.query from '",
            $pattern,
            "'), '\\s+', ' ', 'g'), ",
            $oid,
            "::text) END"
        )
    };
}

const COPY: &str = concat!(
    "SELECT ",
    named!("p.relid", r#"^\s*COPY\s+((?:"(?:[^"]|"")*"|[^\s"])+)"#),
    ", p.bytes_processed, p.tuples_processed \
    FROM pg_stat_progress_copy p LEFT JOIN pg_stat_activity a USING (pid) \
    WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid"
);
/// The index, or its table while the index has no OID yet (a constraint's index being built);
/// unseen, the statement up to its column list (`CREATE INDEX i ON t USING btree`,
/// `ALTER TABLE ONLY t ADD CONSTRAINT t_pkey PRIMARY KEY`).
const INDEX: &str = concat!(
    "SELECT ",
    named!(
        "coalesce(nullif(p.index_relid, 0), p.relid)",
        r"^\s*((?:CREATE|ALTER)\s[^(;]*[^\s(;])"
    ),
    ", p.phase, p.blocks_done, p.blocks_total \
    FROM pg_stat_progress_create_index p LEFT JOIN pg_stat_activity a USING (pid) \
    WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid"
);

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
