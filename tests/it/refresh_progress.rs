//! What an SRE watches while a refresh copies (issue 16, target 3): `-o json` carries the
//! restore's progress as read from dev's `pg_stat_progress_copy` — the table being copied, its
//! rows and bytes so far, the running total against the source's size, and an ETA — and the
//! numbers move. The copy is made slow for real: a trigger on dev (installed by a superuser's
//! event trigger as the restore creates `shop.orders`, dropped once the data is in) sleeps 5 ms
//! per row, so 2,000 orders take at least 10 s to copy whatever the machine's load, against
//! progress read every 2 s. An index whose expression sleeps 5 ms a row while the restore builds
//! it shows the index builds by name and phase. The tests' own reading of prod's size and rows
//! is the oracle.

use serde_json::Value;

use crate::fingerprint as fp;
use crate::harness::World;
use crate::refresh_verify::sabotage;
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::sandbox::Kube;

const ORDERS: u32 = 2000;

/// Every row into dev's `shop.orders` sleeps 5 ms while the restore copies it.
const SLOW_COPY: &str = r#"
CREATE FUNCTION information_schema.test_slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$;
CREATE FUNCTION information_schema.test_slow_copy() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF r.command_tag = 'CREATE TABLE' AND r.object_identity = 'shop.orders' THEN
      EXECUTE 'CREATE TRIGGER test_slow BEFORE INSERT ON shop.orders FOR EACH ROW
               EXECUTE FUNCTION information_schema.test_slow_row()';
    ELSIF r.object_type = 'index' AND r.object_identity = 'shop.orders_placed_at' THEN
      EXECUTE 'DROP TRIGGER test_slow ON shop.orders';
    END IF;
  END LOOP;
END $$;
CREATE EVENT TRIGGER test_slow_copy ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'CREATE INDEX')
  EXECUTE FUNCTION information_schema.test_slow_copy();
ALTER EVENT TRIGGER test_slow_copy ENABLE ALWAYS;
"#;

/// An index on prod whose build on dev takes at least 10 s: its expression sleeps 5 ms a row
/// for the first 2,000 rows a restore session evaluates (the build; not the ANALYZE after it).
const SLOW_INDEX: &str = r#"
CREATE FUNCTION shop.slow_key(bigint) RETURNS bigint IMMUTABLE LANGUAGE plpgsql AS $$
DECLARE n int := coalesce(nullif(current_setting('test.slow_rows', true), ''), '0')::int;
BEGIN
  IF current_setting('application_name') LIKE 'cnpgops-restore-%' AND n < 2000 THEN
    PERFORM set_config('test.slow_rows', (n + 1)::text, true);
    PERFORM pg_sleep(0.005);
  END IF;
  RETURN $1;
END $$;
CREATE INDEX orders_slow_key ON shop.orders (shop.slow_key(id));
"#;

/// `copying shop.orders: N rows, B` in `message`: N.
fn orders_copied(message: &str) -> Option<i64> {
    let rest = &message[message.find("copying shop.orders: ")? + "copying shop.orders: ".len()..];
    rest.split(' ').next()?.parse().ok()
}

#[test]
fn the_restore_reports_rows_bytes_and_an_eta_while_it_copies() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", ORDERS);
    sabotage(&kube, SLOW_COPY);
    let prod_bytes: i64 = {
        let addr = rw::address(&kube, "shop-cnpg");
        kube.block_on(async {
            let c = rw::connect(&addr, "shop", PROD_PASSWORD).await;
            c.batch_execute(SLOW_INDEX).await.unwrap();
            c.query_one("SELECT pg_database_size('shop')", &[])
                .await
                .unwrap()
                .get(0)
        })
    };

    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes", "-o", "json"]);
    ran.code(0);
    let restore: Vec<Value> = ran
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "step_progress" && e["step"] == "dump_restore")
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("restore: "))
        })
        .collect();
    let copying: Vec<(i64, &Value)> = restore
        .iter()
        .filter_map(|e| Some((orders_copied(e["message"].as_str()?)?, e)))
        .collect();
    let all = || format!("{restore:#?}");
    assert!(
        copying.len() >= 2,
        "two readings mid-copy at least: {}",
        all()
    );
    // The rows move forward, never past what prod holds; the bytes done are counted against
    // the source's size (the preflight's reading of what the tests read themselves).
    let rows: Vec<i64> = copying.iter().map(|(n, _)| *n).collect();
    assert!(rows.windows(2).all(|w| w[0] <= w[1]), "{rows:?}");
    assert!(rows.first() < rows.last(), "the copy moved: {rows:?}");
    assert!(*rows.last().unwrap() <= i64::from(ORDERS), "{rows:?}");
    for (_, e) in &copying {
        let total = e["total"].as_i64().unwrap();
        assert!(
            (total - prod_bytes).abs() * 10 < prod_bytes,
            "total {total} is prod's size {prod_bytes}: {e}"
        );
        assert!(e["done"].as_i64().unwrap() > 0, "{e}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains(" of ~") && m.contains("%), "), "{m}");
    }
    assert!(
        copying[1..]
            .iter()
            .any(|(_, e)| e["message"].as_str().unwrap().contains(", ETA ")),
        "an ETA once the rate is known: {}",
        all()
    );
    // The index build, created in the restore's transaction (its OID has no name outside it),
    // is named by its statement, with its phase and blocks.
    // It runs after the data phase: the copy reads as complete (however many small tables
    // finished between two readings), with no ETA from a copy rate that no longer applies.
    let building = "index CREATE INDEX orders_slow_key ON shop.orders USING btree: building index";
    let builds: Vec<&Value> = restore
        .iter()
        .filter(|e| e["message"].as_str().unwrap().contains(building))
        .collect();
    assert!(!builds.is_empty(), "the slow index build seen: {}", all());
    for e in builds {
        let m = e["message"].as_str().unwrap();
        assert!(
            m.starts_with("restore: data copied; ") && m.contains(" blocks"),
            "{m}"
        );
        assert!(!m.contains("ETA"), "{m}");
        assert_eq!(e["done"], e["total"], "{e}");
    }
    // And the slow copy was the real one: dev is prod, the trigger gone.
    let dev = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_eq!(dev.rows("shop.orders"), Some(i64::from(ORDERS)));
    assert_eq!(dev.count("trigger shop.orders test_slow"), 0);
}
