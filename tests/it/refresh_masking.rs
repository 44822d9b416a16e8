//! Masking with a coverage gate: a column neither masked nor marked safe fails the refresh,
//! naming it, and dev keeps what it had; with every column classified, dev gets masked data
//! and still verifies (masked tables by row count).

use crate::fingerprint as fp;
use crate::harness::World;
use crate::refresh_world::{self as rw, DEV_PASSWORD};
use crate::sandbox::{replicas, Kube};

const SAFE: &str = "[shop.customers.id, shop.customers.address, shop.customers.tags, shop.customers.created_at, 'shop.orders.*', 'shop.events.*', 'audit.log.*', 'public.settings.*']";

fn config(w: &World, token_rule: &str) -> String {
    let path = w.path("masking.yaml");
    std::fs::write(
        &path,
        format!(
            "profile: masked\nprofiles:\n  masked:\n    masking:\n      rules:\n        shop.customers.email: \"'user' || id || '@example.invalid'\"\n        shop.customers.name: \"'Customer ' || id\"\n{token_rule}      safe: {SAFE}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn an_unclassified_column_fails_the_refresh_and_classified_ones_are_masked() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    let before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);

    let gap = config(&w, "");
    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes", "--config", &gap]);
    ran.code(4);
    assert!(
        ran.stderr
            .contains("columns neither masked nor marked safe: shop.customers.token"),
        "{}",
        ran.stderr
    );
    let after = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    fp::assert_same(
        ("dev before", &before),
        ("dev", &after),
        "dev kept what it had",
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2);

    let full = config(&w, "        shop.customers.token: \"NULL\"\n");
    let ran = kube.run(
        &w,
        &[
            "refresh-dev",
            "shop",
            "--yes",
            "--verify",
            "checksums",
            "--config",
            &full,
        ],
    );
    ran.code(0);
    let addr = rw::address(&kube, "shop-dev-cnpg");
    let (unmasked, audit, stats): (i64, i64, String) = kube.block_on(async {
        let c = rw::connect(&addr, "shop", DEV_PASSWORD).await;
        let r = c
            .query_one("SELECT count(*) FILTER (WHERE email NOT LIKE '%@example.invalid' OR token IS NOT NULL), (SELECT count(*) FROM audit.log) FROM shop.customers", &[])
            .await
            .unwrap();
        let stats = c
            .query_one("SELECT concat(most_common_vals::text, histogram_bounds::text) FROM pg_stats \
                        WHERE schemaname = 'shop' AND tablename = 'customers' AND attname = 'email'", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1), stats.get(0))
    });
    assert_eq!(unmasked, 0, "every customer masked");
    // Analyzed after the masking: the statistics' sample values are masked ones too.
    assert!(stats.contains("@example.invalid"), "{stats}");
    assert!(!stats.to_lowercase().contains("@example.com"), "{stats}");
    // The oracle: dev is prod in every definition and row, but for the masked table's rows.
    let prod = fp::of(&kube, "shop-cnpg", "shop", rw::PROD_PASSWORD);
    let dev = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    let diff = prod.diff("prod", &dev, "dev");
    assert_eq!(diff.len(), 1, "{diff:#?}");
    assert!(
        diff[0].starts_with("rows of shop.customers: in prod `2000 rows,"),
        "{diff:#?}"
    );
    assert!(diff[0].contains("in dev `2000 rows,"), "{diff:#?}");
    assert_eq!(
        audit, 2000,
        "the audit trigger did not fire for the masking"
    );
}
