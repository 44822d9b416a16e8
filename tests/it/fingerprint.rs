//! The tests' own oracle of "the same database": a fingerprint read with SQL of its own over
//! the catalogs (never `cnpgops::pg::inventory`): extensions, schemas, types, relations with
//! kind, persistence, RLS flags, options, inheritance and partition bounds, view definitions,
//! columns (type, not null, default, identity, generated, collation), constraints, indexes,
//! triggers, event triggers, functions, policies, comments, sequences (definition and value),
//! large objects, and every table's row count and content hash. Definitions are rendered with
//! `search_path = pg_catalog`, so every name in them is schema-qualified.

use std::collections::BTreeMap;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::refresh_world as rw;
use crate::sandbox::Kube;

/// Stable text output: the same settings on both sides of a comparison.
const SESSION: &str = "SET search_path = pg_catalog; SET TimeZone = 'UTC'; \
    SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; \
    SET bytea_output = 'hex'";

/// A user object of catalog `cat` with oid column `col`: not in a system schema, not an
/// extension's member.
fn user_object(cat: &str, col: &str) -> String {
    format!(
        "{col} >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{cat}'::regclass \
         AND e.objid = {col} AND e.deptype = 'e')"
    )
}

const USER_SCHEMA: &str = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'";

/// Each query yields (key, definition) rows; keys start with the kind of object.
fn queries() -> Vec<String> {
    let rel = user_object("pg_class", "c.oid");
    let typ = user_object("pg_type", "t.oid");
    let pro = user_object("pg_proc", "p.oid");
    vec![
        "SELECT 'extension ' || extname, extversion || ' in ' || extnamespace::regnamespace::text \
         FROM pg_extension".into(),
        format!(
            "SELECT 'schema ' || n.nspname, coalesce(obj_description(n.oid, 'pg_namespace'), '') \
             FROM pg_namespace n WHERE {USER_SCHEMA}"
        ),
        format!(
            "SELECT 'type ' || t.oid::regtype::text, t.typtype::text || ' ' || CASE t.typtype \
               WHEN 'e' THEN (SELECT string_agg(enumlabel::text, ',' ORDER BY enumsortorder) \
                              FROM pg_enum WHERE enumtypid = t.oid) \
               WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) || ' not null ' || t.typnotnull \
                             || ' default ' || coalesce(t.typdefault, '-') \
               ELSE '' END \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE {USER_SCHEMA} AND {typ} AND t.typtype IN ('e', 'd', 'c', 'r', 'm') \
               AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')"
        ),
        format!(
            "SELECT 'relation ' || c.oid::regclass::text, concat_ws(' | ', \
               'kind ' || c.relkind::text, 'persistence ' || c.relpersistence::text, \
               'rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity, \
               'options ' || coalesce(array_to_string(c.reloptions, ','), ''), \
               'inherits ' || coalesce((SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno) \
                                        FROM pg_inherits i WHERE i.inhrelid = c.oid), ''), \
               'bound ' || coalesce(pg_get_expr(c.relpartbound, c.oid), ''), \
               'partition key ' || coalesce(pg_get_partkeydef(c.oid), ''), \
               'view ' || CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END, \
               'populated ' || c.relispopulated) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER_SCHEMA} AND {rel} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c', 'S')"
        ),
        format!(
            "SELECT 'column ' || c.oid::regclass::text || '.' || quote_ident(a.attname), concat_ws(' | ', \
               format_type(a.atttypid, a.atttypmod), 'not null ' || a.attnotnull, \
               'default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), \
               'identity ' || a.attidentity::text, 'generated ' || a.attgenerated::text, \
               'collation ' || coalesce(co.collname::text, ''), 'position ' || a.attnum) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             WHERE {USER_SCHEMA} AND {rel} AND a.attnum > 0 AND NOT a.attisdropped \
               AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')"
        ),
        format!(
            "SELECT 'constraint ' || CASE WHEN co.conrelid <> 0 THEN co.conrelid::regclass::text \
               ELSE co.contypid::regtype::text END \
               || ' ' || quote_ident(co.conname), co.contype::text || ' ' || pg_get_constraintdef(co.oid) \
               || ' deferrable ' || co.condeferrable || '/' || co.condeferred || ' valid ' || co.convalidated \
             FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace \
             WHERE {USER_SCHEMA} AND {}",
            user_object("pg_constraint", "co.oid")
        ),
        format!(
            "SELECT 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
               || ' valid ' || i.indisvalid || ' clustered ' || i.indisclustered \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMA} AND {rel}"
        ),
        format!(
            "SELECT 'trigger ' || tg.tgrelid::regclass::text || ' ' || quote_ident(tg.tgname), \
               pg_get_triggerdef(tg.oid) || ' enabled ' || tg.tgenabled::text \
             FROM pg_trigger tg WHERE NOT tg.tgisinternal AND {}",
            user_object("pg_trigger", "tg.oid")
        ),
        "SELECT 'event trigger ' || evtname, evtevent || ' ' || evtfoid::regproc::text || ' ' \
           || evtenabled::text || ' ' || coalesce(array_to_string(evttags, ','), '') \
         FROM pg_event_trigger"
            .into(),
        format!(
            "SELECT 'function ' || p.oid::regprocedure::text, CASE WHEN p.prokind = 'a' \
               THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE {USER_SCHEMA} AND {pro}"
        ),
        "SELECT 'policy ' || quote_ident(schemaname) || '.' || quote_ident(tablename) || ' ' \
           || quote_ident(policyname), concat_ws(' | ', permissive, array_to_string(roles, ','), cmd, \
           coalesce(qual, ''), coalesce(with_check, '')) FROM pg_policies"
            .into(),
        "SELECT 'comment on ' || pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description \
         FROM pg_description d WHERE d.objoid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend e \
           WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')"
            .into(),
        "SELECT 'sequence ' || quote_ident(schemaname) || '.' || quote_ident(sequencename), concat_ws(' | ', \
           data_type::text, start_value, min_value, max_value, increment_by, cycle, cache_size, \
           'last ' || coalesce(last_value::text, 'none')) FROM pg_sequences"
            .into(),
        "SELECT 'large object ' || oid, md5(lo_get(oid)) FROM pg_largeobject_metadata".into(),
    ]
}

/// The relations whose rows are hashed: tables (own rows only) and populated materialized views.
fn contents_query() -> String {
    format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), '' FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {USER_SCHEMA} AND {} AND (c.relkind = 'r' OR (c.relkind = 'm' AND c.relispopulated))",
        user_object("pg_class", "c.oid")
    )
}

/// Every row's md5 folded into two 64-bit sums: a hash of the multiset of rows (order-free).
fn rows_query(table: &str) -> String {
    format!(
        "SELECT '', count(*)::text || ' rows, hash ' \
           || coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text || '/' \
           || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text \
         FROM (SELECT md5(t::text) AS h FROM ONLY {table} t) s"
    )
}

/// One database: object key -> its definition (or contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint(pub BTreeMap<String, String>);

async fn pairs(c: &Client, sql: &str) -> Vec<(String, String)> {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("fingerprint query failed: {e:?}\n{sql}"));
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((
                r.get(0).unwrap_or("").to_string(),
                r.get(1).unwrap_or("").to_string(),
            )),
            _ => None,
        })
        .collect()
}

impl Fingerprint {
    /// Reads the database `c` is connected to.
    pub(crate) async fn read(c: &Client) -> Self {
        c.batch_execute(SESSION).await.expect("session settings");
        let mut all = BTreeMap::new();
        for sql in queries() {
            for (k, v) in pairs(c, &sql).await {
                let dup = all.insert(k.clone(), v);
                assert!(dup.is_none(), "two objects with the key {k}");
            }
        }
        for (table, _) in pairs(c, &contents_query()).await {
            let (_, rows) = pairs(c, &rows_query(&table)).await.remove(0);
            all.insert(format!("rows of {table}"), rows);
        }
        Fingerprint(all)
    }

    /// Every difference as `what: in A ..., in B ...` (empty: the same database).
    pub(crate) fn diff(&self, a: &str, other: &Fingerprint, b: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            match other.0.get(k) {
                None => out.push(format!("{k}: only in {a} ({v})")),
                Some(w) if w != v => out.push(format!("{k}: in {a} `{v}`, in {b} `{w}`")),
                Some(_) => {}
            }
        }
        for (k, w) in &other.0 {
            if !self.0.contains_key(k) {
                out.push(format!("{k}: only in {b} ({w})"));
            }
        }
        out
    }

    /// The row count of `table` (`schema.name`), when it has rows hashed.
    pub(crate) fn rows(&self, table: &str) -> Option<i64> {
        let v = self.0.get(&format!("rows of {table}"))?;
        v.split(' ').next()?.parse().ok()
    }

    /// The entries whose key starts with `prefix` (e.g. `index `).
    pub(crate) fn count(&self, prefix: &str) -> usize {
        self.0.keys().filter(|k| k.starts_with(prefix)).count()
    }
}

/// The fingerprint of `cluster`'s database named like `user` (the owner).
pub(crate) fn of(kube: &Kube, cluster: &str, user: &str, password: &str) -> Fingerprint {
    of_in(kube, "databases", cluster, user, password)
}

/// [`of`] for a cluster in namespace `ns`.
pub(crate) fn of_in(
    kube: &Kube,
    ns: &str,
    cluster: &str,
    user: &str,
    password: &str,
) -> Fingerprint {
    let addr = rw::address_in(kube, ns, cluster);
    kube.block_on(async {
        let c = rw::connect(&addr, user, password).await;
        Fingerprint::read(&c).await
    })
}

/// Fails naming every difference between `a` and `b`.
#[track_caller]
pub(crate) fn assert_same(a: (&str, &Fingerprint), b: (&str, &Fingerprint), what: &str) {
    let diff = a.1.diff(a.0, b.1, b.0);
    assert!(
        diff.is_empty(),
        "{what}: {} differences:\n{}",
        diff.len(),
        diff.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(entries: &[(&str, &str)]) -> Fingerprint {
        Fingerprint(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_diff_names_what_is_missing_extra_and_different() {
        let prod = fp(&[("index shop.i", "CREATE INDEX i"), ("rows of t", "3 rows")]);
        let dev = fp(&[("rows of t", "4 rows"), ("trigger t x", "CREATE TRIGGER x")]);
        assert_eq!(
            prod.diff("prod", &dev, "dev"),
            [
                "index shop.i: only in prod (CREATE INDEX i)",
                "rows of t: in prod `3 rows`, in dev `4 rows`",
                "trigger t x: only in dev (CREATE TRIGGER x)",
            ]
        );
        assert!(prod.diff("a", &prod.clone(), "b").is_empty());
    }
}
