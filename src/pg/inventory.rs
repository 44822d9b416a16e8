//! What a database holds, for comparing a refreshed target with its source: schemas, types,
//! tables (exact row counts, optional checksums), views, materialized views, functions,
//! sequences' values, extensions, and the definitions of indexes, constraints, triggers,
//! policies and columns (`super::definitions`). Extension members and system schemas are left
//! out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::{quote_ident, PgError};

/// Leaves out system schemas and objects that belong to an extension.
const USER_NS: &str = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'";

const RELATIONS: &str = "SELECT n.nspname, c.relname, c.relkind::text, c.relispopulated \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r','p','v','m','S') AND n.nspname NOT LIKE 'pg\\_%' \
       AND n.nspname <> 'information_schema' \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                       AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY 1, 2";

/// One table's (or materialized view's) contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Contents {
    pub rows: i64,
    /// md5 over the sorted md5s of every row's text (order-independent), when asked for.
    pub checksum: Option<String>,
}

/// The objects of one database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Inventory {
    pub schemas: BTreeSet<String>,
    pub types: BTreeSet<String>,
    pub extensions: BTreeSet<String>,
    pub tables: BTreeMap<String, Contents>,
    pub views: BTreeSet<String>,
    pub matviews: BTreeMap<String, Contents>,
    pub functions: BTreeSet<String>,
    /// `last_value` and `is_called`.
    pub sequences: BTreeMap<String, (i64, bool)>,
    /// Indexes, constraints, triggers, policies, row security, columns: what -> definition.
    /// `None` in an inventory read by a version that did not read them (an old checkpoint).
    #[serde(default)]
    pub definitions: Option<BTreeMap<String, String>>,
}

impl Inventory {
    pub(crate) fn total_rows(&self) -> i64 {
        self.tables.values().map(|c| c.rows).sum()
    }
}

/// How [`read`] learns each table's rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rows<'a> {
    /// `SELECT count(*)` per table.
    Count,
    /// The count and a checksum per table (reads every row).
    Checksums,
    /// Tables' rows as a restore's transaction counted them (`refresh::copied`), partitioned
    /// tables' as the sum of their leaves; whatever they miss is counted.
    Counted(&'a BTreeMap<String, i64>),
}

impl Rows<'_> {
    /// [`Rows::Checksums`] when asked for, else [`Rows::Count`].
    pub(crate) fn counts_or_checksums(checksums: bool) -> Rows<'static> {
        if checksums {
            Rows::Checksums
        } else {
            Rows::Count
        }
    }
}

/// Reads the inventory, each table's rows as `rows` says.
pub(crate) async fn read(
    client: &Client,
    cluster: &str,
    rows: Rows<'_>,
) -> Result<Inventory, PgError> {
    let q = |what: &'static str| query_failed(cluster, what);
    let col = |sql: String, what: &'static str| {
        let q = q(what);
        async move {
            let rows = client.query(&sql, &[]).await.map_err(q)?;
            Ok::<BTreeSet<String>, PgError>(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        }
    };
    let mut inv = Inventory {
        schemas: col(format!("SELECT n.nspname FROM pg_namespace n WHERE {USER_NS}"), "list schemas").await?,
        extensions: col("SELECT extname FROM pg_extension".into(), "list extensions").await?,
        types: col(format!(
            "SELECT n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE {USER_NS} AND (t.typtype IN ('e','d') OR (t.typtype = 'c' AND EXISTS \
               (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))) \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')"
        ), "list types").await?,
        functions: col(format!(
            "SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER_NS} \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
        ), "list functions").await?,
        definitions: Some(
            super::definitions::read(client)
                .await
                .map_err(q("read definitions"))?,
        ),
        ..Inventory::default()
    };
    add_relations(client, cluster, rows, &mut inv).await?;
    Ok(inv)
}

/// A failed query (`what`) on `cluster`'s database.
fn query_failed(
    cluster: &str,
    what: &'static str,
) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    let cluster = cluster.to_string();
    move |source| PgError::Query {
        cluster,
        what: what.into(),
        source,
    }
}

/// Adds every user relation to `inv`: views by name, sequences with their values, tables and
/// populated materialized views with their row counts (and checksums when asked).
async fn add_relations(
    client: &Client,
    cluster: &str,
    rows: Rows<'_>,
    inv: &mut Inventory,
) -> Result<(), PgError> {
    let q = |what: &'static str| query_failed(cluster, what);
    let rels = client
        .query(RELATIONS, &[])
        .await
        .map_err(q("list relations"))?;
    for r in rels {
        let (ns, name, kind, populated): (String, String, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let qualified = format!("{ns}.{name}");
        let from = format!("{}.{}", quote_ident(&ns), quote_ident(&name));
        match kind.as_str() {
            "v" => {
                inv.views.insert(qualified);
            }
            "S" => {
                let sql = format!("SELECT last_value, is_called FROM {from}");
                let row = client
                    .query_one(&sql, &[])
                    .await
                    .map_err(q("read a sequence"))?;
                inv.sequences.insert(qualified, (row.get(0), row.get(1)));
            }
            "m" if !populated => {
                inv.matviews.insert(
                    qualified,
                    Contents {
                        rows: -1,
                        checksum: None,
                    },
                );
            }
            _ => {
                let counted = match (rows, kind.as_str()) {
                    (Rows::Counted(c), "r") => c.get(&qualified).copied(),
                    (Rows::Counted(c), "p") => leaves_counted(client, &from, c)
                        .await
                        .map_err(q("list partitions"))?,
                    _ => None,
                };
                let sum = matches!(rows, Rows::Checksums) && kind != "p";
                let contents = match counted {
                    Some(rows) => Contents {
                        rows,
                        checksum: None,
                    },
                    None => contents(client, &from, sum)
                        .await
                        .map_err(q("count rows"))?,
                };
                let into = if kind == "m" {
                    &mut inv.matviews
                } else {
                    &mut inv.tables
                };
                into.insert(qualified, contents);
            }
        }
    }
    Ok(())
}

/// The rows of partitioned table `from` as the sum of its leaves' in `counted`; `None` when
/// a leaf is missing there (a foreign table, a partition the restore did not write).
async fn leaves_counted(
    client: &Client,
    from: &str,
    counted: &BTreeMap<String, i64>,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let leaves = client
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_partition_tree($1::text::regclass) p \
             JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE p.isleaf",
            &[&from],
        )
        .await?;
    Ok(leaves
        .iter()
        .map(|r| counted.get(&r.get::<_, String>(0)).copied())
        .sum())
}

async fn contents(
    client: &Client,
    from: &str,
    checksum: bool,
) -> Result<Contents, tokio_postgres::Error> {
    if !checksum {
        let row = client
            .query_one(&format!("SELECT count(*) FROM {from}"), &[])
            .await?;
        return Ok(Contents {
            rows: row.get(0),
            checksum: None,
        });
    }
    let sql = format!(
        "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) \
         FROM (SELECT md5(t::text) AS h FROM {from} t) s"
    );
    let row = client.query_one(&sql, &[]).await?;
    Ok(Contents {
        rows: row.get(0),
        checksum: Some(row.get(1)),
    })
}

/// Every difference between `source` and `target`, as sentences (empty: equal).
#[cfg(test)]
pub(crate) fn compare(source: &Inventory, target: &Inventory) -> Vec<String> {
    compare_masked(source, target, &BTreeSet::new())
}

/// Like [`compare`], but the checksums of `masked` tables (whose rows were masked on
/// purpose) are not compared; their row counts still are.
pub(crate) fn compare_masked(
    source: &Inventory,
    target: &Inventory,
    masked: &BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    sets(&mut out, "schema", &source.schemas, &target.schemas);
    sets(&mut out, "type", &source.types, &target.types);
    sets(
        &mut out,
        "extension",
        &source.extensions,
        &target.extensions,
    );
    sets(&mut out, "view", &source.views, &target.views);
    sets(&mut out, "function", &source.functions, &target.functions);
    if let (Some(a), Some(b)) = (&source.definitions, &target.definitions) {
        super::definitions::compare(&mut out, a, b);
    }
    let source_tables: BTreeMap<String, Contents> = source
        .tables
        .iter()
        .map(|(k, c)| {
            let mut c = c.clone();
            if masked.contains(k) {
                c.checksum = target.tables.get(k).and_then(|t| t.checksum.clone());
            }
            (k.clone(), c)
        })
        .collect();
    maps(&mut out, "table", &source_tables, &target.tables, |a, b| {
        if a.rows != b.rows {
            Some(format!(
                "{} rows in the source, {} in the target",
                a.rows, b.rows
            ))
        } else if a.checksum != b.checksum {
            Some("same row count, different checksum".into())
        } else {
            None
        }
    });
    maps(
        &mut out,
        "materialized view",
        &source.matviews,
        &target.matviews,
        |a, b| (a != b).then(|| format!("{} rows in the source, {} in the target", a.rows, b.rows)),
    );
    maps(
        &mut out,
        "sequence",
        &source.sequences,
        &target.sequences,
        |a, b| (a != b).then(|| format!("value {} in the source, {} in the target", a.0, b.0)),
    );
    out
}

fn sets(out: &mut Vec<String>, what: &str, a: &BTreeSet<String>, b: &BTreeSet<String>) {
    for x in a.difference(b) {
        out.push(format!("{what} {x} is missing from the target"));
    }
    for x in b.difference(a) {
        out.push(format!("{what} {x} exists only in the target"));
    }
}

fn maps<V>(
    out: &mut Vec<String>,
    what: &str,
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
    differ: impl Fn(&V, &V) -> Option<String>,
) {
    let keys_a: BTreeSet<String> = a.keys().cloned().collect();
    let keys_b: BTreeSet<String> = b.keys().cloned().collect();
    sets(out, what, &keys_a, &keys_b);
    for (k, va) in a {
        if let Some(diff) = b.get(k).and_then(|vb| differ(va, vb)) {
            out.push(format!("{what} {k}: {diff}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let mut i = Inventory::default();
        i.schemas.insert("public".into());
        i.tables.insert(
            "public.a".into(),
            Contents {
                rows: 3,
                checksum: Some("x".into()),
            },
        );
        i.sequences.insert("public.s".into(), (7, true));
        i
    }

    #[test]
    fn equal_inventories_have_no_differences() {
        assert!(compare(&inv(), &inv()).is_empty());
    }

    #[test]
    fn definitions_are_compared_unless_an_old_checkpoint_lacks_them() {
        let mut with = inv();
        let lost = [(
            "index public.a_i".to_string(),
            "CREATE INDEX a_i ...".to_string(),
        )];
        with.definitions = Some(lost.into_iter().collect());
        let mut without = inv();
        without.definitions = Some(Default::default());
        assert_eq!(
            compare(&with, &without),
            ["index public.a_i is missing from the target (CREATE INDEX a_i ...)"]
        );
        let mut old = serde_json::to_value(inv()).unwrap();
        old.as_object_mut().unwrap().remove("definitions");
        let old: Inventory = serde_json::from_value(old).unwrap();
        assert_eq!(old.definitions, None);
        assert!(
            compare(&old, &without).is_empty(),
            "nothing to compare with"
        );
    }

    #[test]
    fn differences_name_the_object() {
        let (a, mut b) = (inv(), inv());
        b.tables.insert(
            "public.dev_only".into(),
            Contents {
                rows: 0,
                checksum: None,
            },
        );
        b.tables.get_mut("public.a").unwrap().rows = 4;
        b.sequences.insert("public.s".into(), (9, true));
        let d = compare(&a, &b);
        assert_eq!(
            d,
            [
                "table public.dev_only exists only in the target",
                "table public.a: 3 rows in the source, 4 in the target",
                "sequence public.s: value 7 in the source, 9 in the target",
            ]
        );
        b = inv();
        b.tables.get_mut("public.a").unwrap().checksum = Some("y".into());
        assert_eq!(
            compare(&a, &b),
            ["table public.a: same row count, different checksum"]
        );
    }
}
