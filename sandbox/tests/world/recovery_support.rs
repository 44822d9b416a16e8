//! What the recovery tests share: a source cluster with superuser access, a history of rows
//! around a backup and a target time, the rows a recovered cluster holds, the keys in S3, and
//! the log of a failed `-full-recovery` Job.
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::Api;
use serde_json::{json, Value};

use crate::backup::*;
use crate::harness::*;
use crate::s3::boto3;

pub const NS: &str = "databases";

/// A source cluster with superuser access (for `pg_switch_wal`), its address and passwords.
pub struct Source {
    pub addr: String,
    pub app: String,
    pub su: String,
    pub db: String,
    pub user: String,
}

impl Source {
    pub fn app_sql(&self, sql: &str) -> String {
        psql(&self.addr, &self.user, &self.app, &self.db, sql).expect("app psql")
    }

    pub fn su_sql(&self, sql: &str) -> String {
        psql(&self.addr, "postgres", &self.su, "postgres", sql).expect("superuser psql")
    }
}

/// Creates and waits for a source cluster with `extra` spec merged in.
pub async fn source(w: &World, name: &str, db: &str, user: &str, extra: Value) -> Source {
    let mut spec = json!({"instances": 1, "storage": {"size": "1Gi"}, "enableSuperuserAccess": true,
        "bootstrap": {"initdb": {"database": db, "owner": user}}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    create_cluster(&w.client, NS, name, spec).await;
    await_healthy(&w.client, NS, name, 60).await;
    let app = secret(&w.client, NS, &format!("{name}-app"))
        .await
        .expect("app");
    let su = secret(&w.client, NS, &format!("{name}-superuser"))
        .await
        .expect("su");
    Source {
        addr: service_address(&w.client, NS, &format!("{name}-rw")).await,
        app: key(&app, "password"),
        su: key(&su, "password"),
        db: db.into(),
        user: user.into(),
    }
}

/// Rows before a backup, the backup, a row before the target, the target time, a row after;
/// the WAL switched and archived. Returns the target time (PostgreSQL's `now()`).
pub async fn history(w: &World, src: &Source, cluster: &str, backup: Value) -> String {
    src.app_sql("create table marker (id serial primary key, label text)");
    src.app_sql("insert into marker (label) values ('before-backup')");
    let b = take_backup(&w.client, NS, &format!("{cluster}-base"), backup).await;
    assert_eq!(b["status"]["phase"], "completed", "{}", b["status"]);
    src.app_sql("insert into marker (label) values ('before-target')");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let target = src.su_sql("select now()");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    src.app_sql("insert into marker (label) values ('after-target')");
    // The segment the switch completed (later WAL, e.g. checkpoints, goes to the next one).
    let segment = src.su_sql("select pg_walfile_name(pg_switch_wal())");
    let archived =
        format!("select coalesce(last_archived_wal >= '{segment}', false) from pg_stat_archiver");
    let t0 = Instant::now();
    while src.su_sql(&archived) != "t" {
        assert!(t0.elapsed() < Duration::from_secs(30), "WAL not archived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    target
}

/// The labels a recovered cluster holds, read with its own app secret.
pub async fn labels(w: &World, cluster: &str, db: &str, user: &str) -> String {
    let app = secret(&w.client, NS, &format!("{cluster}-app"))
        .await
        .expect("app");
    assert_eq!(key(&app, "username"), user);
    let addr = service_address(&w.client, NS, &format!("{cluster}-rw")).await;
    let sql = "select string_agg(label, ',' order by id) from marker";
    psql(&addr, user, &key(&app, "password"), db, sql).expect("recovered psql")
}

/// Waits for the `<cluster>-1-full-recovery` Job to fail; returns its Pod's log.
pub async fn failed_recovery_log(w: &World, cluster: &str, secs: u64) -> String {
    let job = format!("{cluster}-1-full-recovery");
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), NS);
    let t0 = Instant::now();
    loop {
        let j = jobs.get_opt(&job).await.expect("get job");
        let conds = j.and_then(|j| j.status?.conditions).unwrap_or_default();
        if conds
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True")
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{job} did not fail in {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), NS);
    let lp = ListParams::default().labels(&format!("job-name={job}"));
    let list = pods.list(&lp).await.expect("pods");
    let pod = list
        .items
        .first()
        .and_then(|p| p.metadata.name.clone())
        .expect("job pod");
    pods.logs(&pod, &LogParams::default())
        .await
        .expect("pod log")
}

/// The object keys in the bucket under `prefix`.
pub fn keys(endpoint: &str, id: &str, secret: &str, prefix: &str) -> Vec<String> {
    let all = boto3(endpoint, id, secret, LIST_KEYS).expect("list");
    all.lines()
        .filter(|k| k.starts_with(prefix))
        .map(String::from)
        .collect()
}
