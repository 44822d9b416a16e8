//! Masking a refreshed target before its app comes back, with a coverage gate.
//!
//! Rules (from the naming profile) map `schema.table.column` to an SQL expression computed
//! from the row (`'user' || id || '@example.invalid'`); `safe` lists columns (or `schema.table.*`)
//! that may keep prod values. The generated SQL runs inside the restore's transaction, after
//! the data: the UPDATEs (the tables' own triggers disabled meanwhile), then a check that every column of every table is masked or safe. A
//! column nobody classified (one a new migration added) fails the whole transaction, naming
//! the columns, so the target keeps what it had and unmasked data never lands.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::pg::{quote_ident, quote_literal};

/// The masking rules of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Masking {
    /// `schema.table.column` -> SQL expression.
    pub rules: BTreeMap<String, String>,
    /// `schema.table.column` or `schema.table.*` kept as they are.
    pub safe: Vec<String>,
}

impl Masking {
    pub(crate) fn enabled(&self) -> bool {
        !self.rules.is_empty() || !self.safe.is_empty()
    }

    /// `schema.table` of every table with a rule.
    pub(crate) fn masked_tables(&self) -> BTreeSet<String> {
        self.rules
            .keys()
            .filter_map(|k| split(k).map(|(t, _)| t))
            .collect()
    }

    /// The UPDATEs and the coverage gate, or why a rule is malformed.
    pub(crate) fn sql(&self) -> Result<String, String> {
        let mut by_table: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (key, expr) in &self.rules {
            let (table, column) = split(key)
                .ok_or_else(|| format!("masking rule `{key}`: expected schema.table.column"))?;
            by_table
                .entry(table)
                .or_default()
                .push((column, expr.clone()));
        }
        let mut sql = String::new();
        for (table, sets) in &by_table {
            let (schema, name) = table.split_once('.').unwrap_or(("public", table));
            let sets: Vec<String> = sets
                .iter()
                .map(|(c, e)| format!("{} = {e}", quote_ident(c)))
                .collect();
            let t = format!("{}.{}", quote_ident(schema), quote_ident(name));
            // The app's own triggers (audit logs...) must not fire for the masking.
            sql.push_str(&format!(
                "ALTER TABLE {t} DISABLE TRIGGER USER;\nUPDATE {t} SET {};\nALTER TABLE {t} ENABLE TRIGGER USER;\n",
                sets.join(", ")
            ));
        }
        let covered: Vec<String> = self
            .rules
            .keys()
            .chain(self.safe.iter())
            .map(|k| quote_literal(k))
            .collect();
        sql.push_str(&format!(
            "DO $cnpgops$ DECLARE missing text; BEGIN \
             SELECT string_agg(n.nspname || '.' || c.relname || '.' || a.attname, ', ' ORDER BY 1) INTO missing \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped \
               AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
               AND NOT (n.nspname || '.' || c.relname || '.' || a.attname = ANY (ARRAY[{list}]::text[])) \
               AND NOT (n.nspname || '.' || c.relname || '.*' = ANY (ARRAY[{list}]::text[])); \
             IF missing IS NOT NULL THEN RAISE EXCEPTION 'cnpgops masking: columns neither masked nor marked safe: %', missing; END IF; \
             END $cnpgops$;\n",
            list = covered.join(", ")
        ));
        Ok(sql)
    }
}

/// `schema.table.column` -> (`schema.table`, `column`).
fn split(key: &str) -> Option<(String, String)> {
    let (table, column) = key.rsplit_once('.')?;
    table
        .contains('.')
        .then(|| (table.to_string(), column.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Masking {
        Masking {
            rules: BTreeMap::from([
                (
                    "shop.customers.email".into(),
                    "'user' || id || '@example.invalid'".into(),
                ),
                ("shop.customers.name".into(), "'Customer ' || id".into()),
            ]),
            safe: vec!["shop.orders.*".into(), "shop.customers.id".into()],
        }
    }

    #[test]
    fn one_update_per_table_then_the_gate() {
        let sql = rules().sql().unwrap();
        assert!(
            sql.starts_with("ALTER TABLE \"shop\".\"customers\" DISABLE TRIGGER USER;\nUPDATE \"shop\".\"customers\" SET \"email\" = 'user' || id || '@example.invalid', \"name\" = 'Customer ' || id;\n"),
            "{sql}"
        );
        assert!(sql.contains(
            "RAISE EXCEPTION 'cnpgops masking: columns neither masked nor marked safe: %'"
        ));
        assert!(sql.contains("'shop.orders.*'") && sql.contains("'shop.customers.id'"));
        assert_eq!(
            rules().masked_tables(),
            BTreeSet::from(["shop.customers".to_string()])
        );
        assert!(rules().enabled() && !Masking::default().enabled());
    }

    #[test]
    fn malformed_rules_are_named() {
        let bad = Masking {
            rules: BTreeMap::from([("email".into(), "'x'".into())]),
            safe: vec![],
        };
        assert!(bad.sql().unwrap_err().contains("`email`"));
    }
}
