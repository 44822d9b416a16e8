//! `bootstrap.recovery` from barman-cloud backups, in-tree and with the plugin: point-in-time
//! recovery holds the rows committed before the target and not those after, the new cluster's
//! app secret logs in, nothing of the new timeline lands under the source's prefix; a full
//! recovery from a Backup object; the empty-archive check and a target that cannot be reached
//! fail the `-full-recovery` Job (the error in its Pod's log) and leave the Cluster setting up.
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::backup::*;
use crate::harness::*;
use crate::recovery_support::*;

/// No WAL of timeline 2 (nor its history file) under a server's `wals/`.
fn assert_no_new_timeline(keys: &[String], wals: &str) {
    let leaked: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with(&format!("{wals}00000002")))
        .collect();
    assert!(
        leaked.is_empty(),
        "new timeline archived into the source: {leaked:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_tree_point_in_time_recovery() {
    let w = start().await;
    namespace(&w.client, NS).await;
    let (endpoint, id, secret) = s3_setup(&w, NS).await;
    let archive = json!({"backup": {"barmanObjectStore": store_config(&endpoint, "cnpg")}});
    let src = source(&w, "prod", "app", "app", archive).await;
    let target = history(&w, &src, "prod", json!({"cluster": {"name": "prod"}})).await;

    let mut origin = store_config(&endpoint, "cnpg");
    origin["serverName"] = json!("prod");
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"},
        "bootstrap": {"recovery": {"source": "origin", "recoveryTarget": {"targetTime": target}}},
        "externalClusters": [{"name": "origin", "barmanObjectStore": origin}],
        "backup": {"barmanObjectStore": store_config(&endpoint, "cnpg")}});
    create_cluster(&w.client, NS, "restored", spec).await;
    let (c, took) = await_healthy(&w.client, NS, "restored", 180).await;
    eprintln!("in-tree PITR: healthy after {:.2}s", took.as_secs_f64());
    assert_eq!(
        c.data["status"]["timelineID"], 2,
        "promoted on a new timeline"
    );
    let got = labels(&w, "restored", "app", "app").await;
    assert_eq!(
        got, "before-backup,before-target",
        "rows up to the target only"
    );

    // The restored server archives its new timeline only under its own server name.
    let t0 = Instant::now();
    while !keys(&endpoint, &id, &secret, "cnpg/restored/wals/")
        .iter()
        .any(|k| k.starts_with("cnpg/restored/wals/00000002.history"))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "own archive has no history"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_no_new_timeline(
        &keys(&endpoint, &id, &secret, "cnpg/prod/"),
        "cnpg/prod/wals/",
    );
    full_recovery_from_the_backup_object(&w).await;
    recovery_into_the_source_archive_is_refused(&w, origin).await;
    w.sandbox.stop().await;
}

/// `recovery.backup.name` (the in-tree Backup object), no target: every archived row is back.
async fn full_recovery_from_the_backup_object(w: &World) {
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"},
        "bootstrap": {"recovery": {"backup": {"name": "prod-base"}}}});
    create_cluster(&w.client, NS, "latest", spec).await;
    let (_, took) = await_healthy(&w.client, NS, "latest", 180).await;
    eprintln!(
        "full recovery from a Backup: healthy after {:.2}s",
        took.as_secs_f64()
    );
    let got = labels(w, "latest", "app", "app").await;
    assert_eq!(got, "before-backup,before-target,after-target");
}

/// A recovery whose own archive is the source's (same server name) fails the empty-archive
/// check: the cluster stays in "Setting up primary" and nothing is restored.
async fn recovery_into_the_source_archive_is_refused(w: &World, origin: Value) {
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"},
        "bootstrap": {"recovery": {"source": "origin"}},
        "externalClusters": [{"name": "origin", "barmanObjectStore": origin.clone()}],
        "backup": {"barmanObjectStore": origin}});
    create_cluster(&w.client, NS, "clobber", spec).await;
    let log = failed_recovery_log(w, "clobber", 30).await;
    let expected = "WAL archive check failed for server prod: Expected empty archive";
    assert!(log.contains(expected), "{log}");
    let c = clusters(&w.client, NS)
        .get("clobber")
        .await
        .expect("clobber");
    assert_eq!(c.data["status"]["phase"], "Setting up primary");
    let dir = instance_dir(w.dir.path(), NS, "clobber-1");
    assert!(!dir.join("data").exists(), "nothing restored");
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_point_in_time_recovery() {
    let w = start().await;
    namespace(&w.client, NS).await;
    let (endpoint, id, secret) = s3_setup(&w, NS).await;
    let os = json!({"configuration": store_config(&endpoint, "plug")});
    create(
        &w.client,
        NS,
        "barmancloud.cnpg.io",
        "ObjectStore",
        "store",
        os,
    )
    .await;
    let plugin = json!({"name": "barman-cloud.cloudnative-pg.io",
        "parameters": {"barmanObjectName": "store"}});
    let mut archiver = plugin.clone();
    archiver["isWALArchiver"] = json!(true);
    let src = source(
        &w,
        "web",
        "site",
        "site_owner",
        json!({"plugins": [archiver]}),
    )
    .await;
    let backup = json!({"cluster": {"name": "web"}, "method": "plugin",
        "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}});
    let target = history(&w, &src, "web", backup).await;

    let mut origin = plugin.clone();
    origin["parameters"]["serverName"] = json!("web");
    let recovery = |target: Value| {
        json!({"instances": 1, "storage": {"size": "1Gi"},
            "bootstrap": {"recovery": {"source": "origin", "database": "site",
                "owner": "site_owner", "recoveryTarget": target}},
            "externalClusters": [{"name": "origin", "plugin": origin}]})
    };
    create_cluster(
        &w.client,
        NS,
        "web-pitr",
        recovery(json!({"targetTime": target})),
    )
    .await;
    let (_, took) = await_healthy(&w.client, NS, "web-pitr", 180).await;
    eprintln!("plugin PITR: healthy after {:.2}s", took.as_secs_f64());
    let got = labels(&w, "web-pitr", "site", "site_owner").await;
    assert_eq!(got, "before-backup,before-target");
    assert_no_new_timeline(
        &keys(&endpoint, &id, &secret, "plug/web/"),
        "plug/web/wals/",
    );

    // A target past the end of the archive cannot be reached: recovery fails, not retried.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    create_cluster(
        &w.client,
        NS,
        "web-late",
        recovery(json!({"targetTime": future})),
    )
    .await;
    let log = failed_recovery_log(&w, "web-late", 90).await;
    assert!(
        log.contains("recovery ended before configured recovery target was reached"),
        "{log}"
    );
    let c = clusters(&w.client, NS)
        .get("web-late")
        .await
        .expect("web-late");
    assert_eq!(c.data["status"]["phase"], "Setting up primary");
    let dir = instance_dir(w.dir.path(), NS, "web-late-1");
    assert!(
        !dir.join("data/postmaster.pid").exists(),
        "no server left running"
    );
    w.sandbox.stop().await;
}
