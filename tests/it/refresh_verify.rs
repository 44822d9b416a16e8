//! refresh-dev's `verify` checks definitions, not just names and rows: a refresh whose result
//! lost a foreign key and an index fails at `verify` naming both. The loss is real: an event
//! trigger on dev (a superuser's, as a DBA's tooling might install) drops the index and the
//! foreign key as pg_restore creates them. The tests' own fingerprint confirms that exactly
//! those two differ from prod.

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

/// Turns on `enableSuperuserAccess` for dev and installs [`SABOTAGE`] in its database `shop`.
fn sabotage(kube: &Kube) {
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
    kube.block_on(client.batch_execute(SABOTAGE)).unwrap();
}

#[test]
fn a_refresh_that_lost_a_foreign_key_and_an_index_fails_verify_naming_both() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    sabotage(&kube);
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
