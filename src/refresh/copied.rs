//! The rows a single-transaction restore wrote, as PostgreSQL counted them: just before its
//! `COMMIT` (after masking) the Job's script runs [`ROWS_SQL`], which prints, for every table
//! the target's owner owns, `n_tup_ins - n_tup_del` of `pg_stat_xact_user_tables` (this
//! transaction's own counters) as a warning line. Every such table was created in that
//! transaction (the clean dropped all the owner owned), so the counter is its row count, and
//! `pg.verify` takes it instead of reading every row again: the second full read of the new
//! rows (20% of a refresh, docs/RELIABILITY.md) is gone. `--verify checksums` still reads
//! every row. Partitioned tables sum their leaves; materialized views (refreshed through a
//! transient heap the counters do not follow) and whatever the lines miss are counted again.

/// What a count line holds: `psql:<stdin>:N: WARNING:  cnpgops: rows <n> <schema>.<table>`.
pub(crate) const MARKER: &str = "cnpgops: rows ";

/// The statement printing the counts; the Job gets it as `$ROWS_SQL` (no shell quoting).
pub(crate) const ROWS_SQL: &str = "DO $$DECLARE r record; BEGIN FOR r IN \
     SELECT s.schemaname || '.' || s.relname AS t, s.n_tup_ins - s.n_tup_del AS n \
     FROM pg_stat_xact_user_tables s JOIN pg_class c ON c.oid = s.relid \
     WHERE c.relkind = 'r' AND pg_get_userbyid(c.relowner) = current_user ORDER BY 1 \
     LOOP RAISE WARNING 'cnpgops: rows % %', r.n, r.t; END LOOP; END$$;";

/// The table and its row count, when `line` is a count line.
pub(crate) fn parse(line: &str) -> Option<(String, i64)> {
    let rest = &line[line.find(MARKER)? + MARKER.len()..];
    let (n, table) = rest.trim_end().split_once(' ')?;
    Some((table.to_string(), n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn count_lines_give_the_table_and_its_rows() {
        let lines = [
            "psql:<stdin>:12: WARNING:  cnpgops: rows 1000000 public.orders",
            "psql:<stdin>:12: WARNING:  cnpgops: rows 0 shop.empty table",
            "psql:<stdin>:9: WARNING:  cnpgops: phase commit",
            "psql:<stdin>:12: WARNING:  cnpgops: rows many public.x",
            "pg_dump: dumping contents of table \"public.orders\"",
        ];
        let got: BTreeMap<String, i64> = lines.into_iter().filter_map(parse).collect();
        assert_eq!(
            got,
            BTreeMap::from([
                ("public.orders".to_string(), 1_000_000),
                ("shop.empty table".to_string(), 0)
            ])
        );
    }
}
