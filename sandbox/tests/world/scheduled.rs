//! `ScheduledBackup` on its six-field cron: an immediate first Backup, then one per tick,
//! named `<name>-<YYYYMMDDhhmmss>` with CNPG's labels and owner; `suspend` stops it; a bad
//! schedule is reported in `status.error`.
use std::time::Duration;

use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{json, Value};

use crate::backup::*;
use crate::harness::*;

const NS: &str = "databases";

async fn scheduled_backups(w: &World, sb: &str) -> Vec<Value> {
    let lp = ListParams::default().labels(&format!("cnpg.io/scheduled-backup={sb}"));
    let list = api(&w.client, NS, "postgresql.cnpg.io", "Backup")
        .list(&lp)
        .await
        .expect("list backups");
    let mut v: Vec<Value> = list
        .items
        .iter()
        .map(|b| serde_json::to_value(b).expect("json"))
        .collect();
    v.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_backups_run_on_the_six_field_cron() {
    let w = start().await;
    namespace(&w.client, NS).await;
    let (endpoint, _, _) = s3_setup(&w, NS).await;
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"},
        "backup": {"barmanObjectStore": store_config(&endpoint, "cnpg")}});
    create_cluster(&w.client, NS, "prod", spec).await;
    await_healthy(&w.client, NS, "prod", 60).await;
    let sb = json!({"schedule": "*/4 * * * * *", "immediate": true,
        "backupOwnerReference": "self", "cluster": {"name": "prod"}});
    create(
        &w.client,
        NS,
        "postgresql.cnpg.io",
        "ScheduledBackup",
        "nightly",
        sb,
    )
    .await;

    let sbs = api(&w.client, NS, "postgresql.cnpg.io", "ScheduledBackup");
    let s = wait_for(&sbs, "nightly", 20, "scheduled status", |s| {
        s["status"]["lastScheduleTime"].is_string()
    })
    .await;
    for k in ["lastCheckTime", "lastScheduleTime", "nextScheduleTime"] {
        assert!(
            s["status"][k].as_str().is_some_and(|t| t.ends_with('Z')),
            "{k}: {s}"
        );
    }
    let first = &scheduled_backups(&w, "nightly").await[0];
    let name = first["metadata"]["name"].as_str().expect("name");
    assert!(
        name.starts_with("nightly-") && name.len() == "nightly-".len() + 14,
        "{name}"
    );
    assert_eq!(
        first["metadata"]["labels"]["cnpg.io/immediateBackup"],
        "true"
    );
    assert_eq!(first["metadata"]["labels"]["cnpg.io/cluster"], "prod");
    assert_eq!(
        first["metadata"]["ownerReferences"][0]["kind"],
        "ScheduledBackup"
    );
    assert_eq!(first["spec"]["method"], "barmanObjectStore");

    // The schedule goes on once the first backup is done.
    let backups = api(&w.client, NS, "postgresql.cnpg.io", "Backup");
    let mut seen = 0;
    for _ in 0..150 {
        let list = scheduled_backups(&w, "nightly").await;
        let scheduled = list
            .iter()
            .filter(|b| b["metadata"]["labels"]["cnpg.io/immediateBackup"] == "false");
        seen = scheduled.count();
        if seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen > 0, "a scheduled (non-immediate) backup follows");
    wait_for(&backups, name, 60, "first backup completed", |b| {
        b["status"]["phase"] == "completed"
    })
    .await;

    let suspend = Patch::Merge(json!({"spec": {"suspend": true}}));
    sbs.patch("nightly", &PatchParams::default(), &suspend)
        .await
        .expect("suspend");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = scheduled_backups(&w, "nightly").await.len();
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(
        scheduled_backups(&w, "nightly").await.len(),
        before,
        "suspended"
    );

    let bad = json!({"schedule": "every day", "cluster": {"name": "prod"}});
    create(
        &w.client,
        NS,
        "postgresql.cnpg.io",
        "ScheduledBackup",
        "bad",
        bad,
    )
    .await;
    let s = wait_for(&sbs, "bad", 10, "schedule error", |s| {
        s["status"]["error"].is_string()
    })
    .await;
    assert!(s["status"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("invalid schedule")));
    w.sandbox.stop().await;
}
