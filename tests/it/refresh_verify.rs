//! refresh-dev's `verify` checks definitions and rows, not just names: a refresh whose result
//! lost a foreign key and an index fails at `verify` naming both; one whose restore lost rows
//! inside its own transaction fails naming every table and both counts, taken from the
//! restore's own counters (`refresh::copied`) rather than a second read. The losses are real:
//! an event trigger on dev (a superuser's, as a DBA's tooling might install) makes them as
//! pg_restore creates the index. The tests' own fingerprint confirms what differs from prod.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};

use crate::fingerprint as fp;
use crate::harness::World;
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::restore_world::superuser_password;
use crate::sandbox::{replicas, Kube};

const DEV: &str = "shop-dev-cnpg";

/// Drops `shop.orders_placed_at` and the FK `orders_customer_id_fkey` right after they are
/// created. The function lives in `information_schema`, which no inventory lists, so the only
/// differences verify can see are the ones the sabotage makes.
const SABOTAGE: &str = r#"
CREATE FUNCTION information_schema.test_sabotage() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF r.object_type = 'index' AND r.object_identity = 'shop.orders_placed_at' THEN
      EXECUTE 'DROP INDEX shop.orders_placed_at';
    ELSIF r.command_tag = 'ALTER TABLE' AND r.object_identity = 'shop.orders'
      AND EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'orders_customer_id_fkey') THEN
      EXECUTE 'ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_id_fkey';
    END IF;
  END LOOP;
END $$;
CREATE EVENT TRIGGER test_sabotage ON ddl_command_end WHEN TAG IN ('CREATE INDEX', 'ALTER TABLE')
  EXECUTE FUNCTION information_schema.test_sabotage();
ALTER EVENT TRIGGER test_sabotage ENABLE ALWAYS;
"#;

/// Deletes every tenth order and event in the restore's transaction once the data is in (when
/// `shop.orders_placed_at` is built): rows the copy wrote and then lost, which only the
/// transaction's own counters (`n_tup_del`) or a second read can see.
const LOSE_ROWS: &str = r#"
CREATE FUNCTION information_schema.test_lose_rows() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF r.object_type = 'index' AND r.object_identity = 'shop.orders_placed_at' THEN
      DELETE FROM shop.orders WHERE id % 10 = 0;
      DELETE FROM shop.events WHERE id % 10 = 0;
    END IF;
  END LOOP;
END $$;
CREATE EVENT TRIGGER test_lose_rows ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION information_schema.test_lose_rows();
ALTER EVENT TRIGGER test_lose_rows ENABLE ALWAYS;
"#;

/// Turns on `enableSuperuserAccess` for dev and installs `sql` (an event trigger) in its
/// database `shop`.
pub(crate) fn sabotage(kube: &Kube, sql: &str) {
    let client = superuser(kube);
    kube.block_on(client.batch_execute(sql)).unwrap();
}

/// Turns on `enableSuperuserAccess` for dev; a `postgres` session on its database `shop`.
pub(crate) fn superuser(kube: &Kube) -> tokio_postgres::Client {
    let patch = Patch::Merge(serde_json::json!({"spec": {"enableSuperuserAccess": true}}));
    kube.block_on(
        kube.api("Cluster", "databases")
            .patch(DEV, &PatchParams::default(), &patch),
    )
    .unwrap();
    let addr = rw::address(kube, DEV);
    let (host, port) = addr.rsplit_once(':').unwrap();
    let t0 = Instant::now();
    let client = loop {
        let password = kube
            .get("Secret", "databases", &format!("{DEV}-superuser"))
            .map(|_| superuser_password(kube, DEV));
        if let Some(password) = password {
            let mut config = tokio_postgres::Config::new();
            config.host(host).port(port.parse().unwrap());
            config.user("postgres").password(password).dbname("shop");
            let connected = kube.block_on(async {
                let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                Ok::<_, tokio_postgres::Error>(client)
            });
            if let Ok(c) = connected {
                break c;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no superuser access"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    client
}

#[test]
fn a_refresh_that_lost_a_foreign_key_and_an_index_fails_verify_naming_both() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    sabotage(&kube, SABOTAGE);
    let prod_before = fp::of(&kube, "shop-cnpg", "shop", PROD_PASSWORD);

    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    ran.code(4);
    let err = &ran.stderr;
    assert!(err.contains("step `verify` failed"), "{err}");
    assert!(err.contains("in 2 place(s)"), "only the two losses: {err}");
    for lost in [
        "index shop.orders_placed_at is missing from the target (CREATE INDEX orders_placed_at ON shop.orders USING btree (placed_at))",
        "constraint orders_customer_id_fkey on shop.orders is missing from the target (FOREIGN KEY (customer_id) REFERENCES shop.customers(id))",
    ] {
        assert!(err.contains(lost), "`{lost}` not named in:\n{err}");
    }

    // The oracle agrees: dev is prod but for the two losses (and the saboteur itself).
    let prod = fp::of(&kube, "shop-cnpg", "shop", PROD_PASSWORD);
    fp::assert_same(
        ("prod before", &prod_before),
        ("prod", &prod),
        "prod unchanged",
    );
    let dev = fp::of(&kube, DEV, "shop", DEV_PASSWORD);
    let diff = prod.diff("prod", &dev, "dev");
    let mut keys: Vec<&str> = diff.iter().map(|d| d.split(':').next().unwrap()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "constraint shop.orders orders_customer_id_fkey",
            "event trigger test_sabotage",
            "index shop.orders_placed_at",
        ],
        "{diff:#?}"
    );
    // The run stopped at verify: no annotation, no Event; the app is back, the lock free.
    let cluster = kube.get("Cluster", "databases", DEV).unwrap();
    assert!(cluster["metadata"]["annotations"]
        .get("cnpgops.io/refreshed-from")
        .is_none());
    let events = kube.list("Event", "databases", "");
    assert!(
        !events.iter().any(|e| e["reason"] == "Refreshed"),
        "{events:#?}"
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2, "the app is back");
    assert!(rw::lock_released(&kube, "shop-dev-cnpg"), "lock released");
}

#[test]
fn rows_lost_inside_the_restore_fail_verify_by_the_restores_own_counts() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    sabotage(&kube, LOSE_ROWS);

    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    ran.code(4);
    let err = &ran.stderr;
    assert!(err.contains("step `verify` failed"), "{err}");
    assert!(
        err.contains("tables' rows as the restore's transaction counted them (not read again"),
        "verify took the restore's counts: {err}"
    );
    // The oracle: the tests' own count of each table on both sides, and every difference
    // named with those numbers (the partitioned parent as the sum of its partitions).
    let prod = fp::of(&kube, "shop-cnpg", "shop", PROD_PASSWORD);
    let dev = fp::of(&kube, DEV, "shop", DEV_PASSWORD);
    let rows = |f: &fp::Fingerprint, t: &str| f.rows(t).unwrap_or_else(|| panic!("rows of {t}"));
    let mut lost = 0;
    for table in ["shop.orders", "shop.events_2025", "shop.events_2026"] {
        let (p, d) = (rows(&prod, table), rows(&dev, table));
        assert!(d < p, "{table}: rows really lost ({p} in prod, {d} in dev)");
        lost += p - d;
        let named = format!("table {table}: {p} rows in the source, {d} in the target");
        assert!(err.contains(&named), "`{named}` not in:\n{err}");
    }
    let (p, d) = (
        rows(&prod, "shop.events_2025") + rows(&prod, "shop.events_2026"),
        rows(&dev, "shop.events_2025") + rows(&dev, "shop.events_2026"),
    );
    let named = format!("table shop.events: {p} rows in the source, {d} in the target");
    assert!(err.contains(&named), "`{named}` not in:\n{err}");
    assert!(lost >= 100, "every tenth order at least: {lost}");
    let cluster = kube.get("Cluster", "databases", DEV).unwrap();
    assert!(cluster["metadata"]["annotations"]
        .get("cnpgops.io/refreshed-from")
        .is_none());
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2, "the app is back");
}
