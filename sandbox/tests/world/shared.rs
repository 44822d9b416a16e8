//! Seed 003's shared-cluster scenario: managed roles and `Database` resources give each app its
//! own role and database in one cluster, reachable with the app's credentials.
use std::path::Path;
use std::time::Duration;

use crate::harness::{psql, service_address, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_cluster_scenario_gives_each_app_its_database() {
    let w = start().await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/shared-cluster.yaml");
    let objects = cnpgops_sandbox::scenario::load(&file).unwrap();
    cnpgops_sandbox::scenario::up(
        &w.sandbox.api,
        &w.sandbox.world,
        objects,
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    let addr = service_address(&w.client, "databases", "postgresql-shared-rw").await;
    let who = |user: &str, pw: &str, db: &str| {
        psql(&addr, user, pw, db, "select current_user || '@' || current_database() || ':' || (select pg_get_userbyid(datdba) from pg_database where datname = current_database())")
    };
    assert_eq!(
        who("docspell", "sandbox-docspell-Pa55", "docspell").unwrap(),
        "docspell@docspell:docspell"
    );
    assert_eq!(
        who("docspell_dev", "sandbox-docspell-dev-Pa55", "docspell_dev").unwrap(),
        "docspell_dev@docspell_dev:docspell_dev"
    );
    assert!(who("docspell", "wrong", "docspell").is_err());
    let db = w
        .sandbox
        .api
        .get_obj("postgresql.cnpg.io", "databases", "databases", "docspell")
        .unwrap();
    assert_eq!(db["status"]["applied"], true);
}
