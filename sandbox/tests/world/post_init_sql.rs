//! `bootstrap.initdb.postInitApplicationSQL`: each entry runs once, as the superuser, in the
//! application database (one simple-protocol query, so a leading `SET ROLE` holds for the
//! entry, as with CNPG's instance manager), before the Cluster is reported healthy.
use kube::api::{DynamicObject, PostParams};
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn post_init_application_sql_runs_as_the_superuser_before_the_cluster_is_healthy() {
    let w = start().await;
    namespace(&w.client, "databases").await;
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "seeded", "namespace": "databases"},
        "spec": {"instances": 1, "imageName": "ghcr.io/cloudnative-pg/postgresql:15.6",
                 "storage": {"size": "1Gi"},
                 "bootstrap": {"initdb": {"database": "site", "owner": "site_owner",
                     "postInitApplicationSQL": [
                         "set role site_owner;\n\
                          create table pages (id serial primary key, slug text not null);\n\
                          insert into pages (slug) select 'p' || g from generate_series(1, 42) g;",
                         "create table audit (id int)"]}}},
    }))
    .expect("cluster object");
    clusters(&w.client, "databases")
        .create(&PostParams::default(), &obj)
        .await
        .expect("created");
    await_healthy(&w.client, "databases", "seeded", 60).await;
    let app = secret(&w.client, "databases", "seeded-app")
        .await
        .expect("app secret");
    let addr = service_address(&w.client, "databases", "seeded-rw").await;
    let sql = "select count(*) || ':' || tableowner from pages, pg_tables \
               where tablename = 'pages' group by tableowner";
    let got = psql(&addr, "site_owner", &key(&app, "password"), "site", sql).expect("psql");
    assert_eq!(got, "42:site_owner", "rows there, table owned by the owner");
    let sql = "select tableowner from pg_tables where tablename = 'audit'";
    let got = psql(&addr, "site_owner", &key(&app, "password"), "site", sql).expect("psql");
    assert_eq!(
        got, "postgres",
        "an entry without SET ROLE runs as the superuser"
    );
    w.sandbox.stop().await;
}
