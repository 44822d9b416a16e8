//! `cnpgops restore` in place SIGKILLed at random moments, uniform over a clean run's duration
//! (so inside steps: between a DELETE and its checkpoint, during the recovery, the verify...),
//! every other run's `resume` killed again, then resumed to completion. Each run restores the
//! backup taken just before it (`--backup-id`, restored as it ended; a row written after that
//! backup must not come back) and must end with: the Cluster's content the backup's (the
//! tests' fingerprint read right after the backup), the old Cluster deleted once and one new
//! Cluster created (the Cluster's UID history from a watch of the API: exactly `deleted OLD,
//! added NEW`), one recovery Job of the new Cluster, the app at its replica count,
//! Argo CD's auto-sync as it was and no lease held. `CNPGOPS_RESTORE_KILLS` sets how many kills
//! (default 10), `CNPGOPS_KILL_SEED` replays a seed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::core::DynamicObject;
use kube::Api;

use super::kill_anywhere::{env_or, landed, lease_free, Moments};
use super::*;
use crate::catalog::NS;
use crate::fingerprint::Fingerprint;
use crate::restore_world::*;

const CLUSTER: &str = "shop-cnpg";

/// `restore` in place, approved to re-enable auto-sync over the recovered Cluster
/// (`restore.rs` covers the default, which leaves it paused and exits 3).
const ARGS: &[&str] = &[
    "--lock-ttl",
    "2s",
    "restore",
    "shop",
    "--env",
    "prod",
    "--yes",
    "--allow-prod",
    "--resume-autosync",
];

/// A change of the Cluster's identity seen by the watch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Added(String),
    Deleted(String),
    /// The watch's history was lost (410 Gone): changes may be missing.
    Lost(String),
}

/// Every ADDED and DELETED event of Cluster `shop-cnpg`, from a watch resumed at its last
/// resourceVersion whenever the connection ends (so nothing is missed but on 410 Gone, which
/// is recorded and fails the check).
struct UidHistory {
    seen: Arc<Mutex<Vec<Change>>>,
    task: tokio::task::JoinHandle<()>,
}

impl UidHistory {
    fn start(kube: &Kube) -> Self {
        let api = kube.api("Cluster", NS);
        let list = kube.block_on(api.list_metadata(&ListParams::default()));
        let rv = list.unwrap().metadata.resource_version.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = kube.spawn(record(api, rv, seen.clone()));
        Self { seen, task }
    }

    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The changes from the `from`th on.
    fn since(&self, from: usize) -> Vec<Change> {
        self.seen.lock().unwrap()[from..].to_vec()
    }
}

impl Drop for UidHistory {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(api: Api<DynamicObject>, mut rv: String, seen: Arc<Mutex<Vec<Change>>>) {
    let wp = WatchParams::default()
        .fields(&format!("metadata.name={CLUSTER}"))
        .timeout(120);
    let uid = |o: &DynamicObject| o.metadata.uid.clone().unwrap_or_default();
    loop {
        let Ok(stream) = api.watch(&wp, &rv).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut stream = stream.boxed();
        while let Some(Ok(event)) = stream.next().await {
            let (change, version) = match event {
                WatchEvent::Added(o) => (Some(Change::Added(uid(&o))), o.metadata.resource_version),
                WatchEvent::Deleted(o) => {
                    (Some(Change::Deleted(uid(&o))), o.metadata.resource_version)
                }
                WatchEvent::Modified(o) => (None, o.metadata.resource_version),
                WatchEvent::Bookmark(b) => (None, Some(b.metadata.resource_version)),
                WatchEvent::Error(e) => (Some(Change::Lost(e.message)), None),
            };
            let lost = matches!(change, Some(Change::Lost(_)));
            seen.lock().unwrap().extend(change);
            if lost {
                return;
            }
            rv = version.unwrap_or(rv);
        }
    }
}

/// What a run must restore: the backup taken for it and the content it holds.
struct Target {
    backup_id: String,
    content: Fingerprint,
    old_uid: String,
}

fn content(kube: &Kube) -> Fingerprint {
    fp::of(kube, CLUSTER, "app", &app_password(kube, CLUSTER))
}

fn backups(kube: &Kube) -> BTreeMap<String, Value> {
    kube.list("Backup", NS, &format!("cnpg.io/cluster={CLUSTER}"))
        .into_iter()
        .map(|b| (b["metadata"]["name"].as_str().unwrap().to_string(), b))
        .collect()
}

/// A new row, a backup (`cnpgops backup --wait`) and its content, then a row written after it
/// (the restore must not bring it back).
fn backed_up(kube: &Kube, k: usize) -> Target {
    let sql = format!("insert into marks (label) values ('kill-{k}')");
    app_sql(kube, CLUSTER, &sql);
    let before: BTreeSet<String> = backups(kube).into_keys().collect();
    kube.run(&World::new(), &["backup", "shop", "--wait"])
        .code(0);
    let mut made: Vec<Value> = backups(kube)
        .into_iter()
        .filter(|(name, _)| !before.contains(name))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(made.len(), 1, "one new Backup: {made:#?}");
    let backup = made.remove(0);
    let backup_id = backup["status"]["backupId"].as_str().unwrap().to_string();
    let content = content(kube);
    let sql = format!("insert into marks (label) values ('after-backup-{k}')");
    app_sql(kube, CLUSTER, &sql);
    let old_uid = kube.get("Cluster", NS, CLUSTER).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    Target {
        backup_id,
        content,
        old_uid,
    }
}

fn args(t: &Target) -> Vec<&str> {
    [ARGS, &["--backup-id", &t.backup_id]].concat()
}

/// Starts `cmd` and SIGKILLs it `at` after (or finds it exited).
fn kill_at(mut cmd: std::process::Command, at: Duration) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < at && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL (or nothing, if it had finished)
    child.wait().unwrap();
}

/// The id of the run in `w` if it has a checkpoint and has not finished.
fn unfinished(w: &World) -> Option<String> {
    let state: Value = serde_json::from_str(&w.checkpoints().pop()?).unwrap();
    (state["status"] != "succeeded").then(|| state["run_id"].as_str().unwrap().to_string())
}

/// The killed run's id after resuming it to completion (a kill before the first checkpoint:
/// a new run once the orphan Lease expires).
fn finished(kube: &Kube, w: &World, args: &[&str], what: &str) -> String {
    let Some(state) = w.checkpoints().pop() else {
        lease_free(kube, CLUSTER);
        kube.run(w, args).code(0);
        return w.only_run()["run_id"].as_str().unwrap().to_string();
    };
    let state: Value = serde_json::from_str(&state).unwrap();
    let id = state["run_id"].as_str().unwrap().to_string();
    if run_state(w, &id)["status"] != "succeeded" {
        let ran = resume(kube, w, &id, &["--allow-prod"]);
        assert_eq!(ran.code, 0, "{what}: {}{}", ran.stdout, ran.stderr);
    }
    id
}

/// The run finished; the Cluster holds the backup's content; the old one deleted once and one
/// created (`changes`, the UID history since the run started); one recovery Job of the new
/// Cluster, recovering the backup; the app at 1 replica; auto-sync as it was; the lock free.
#[track_caller]
fn restored_once(kube: &Kube, w: &World, id: &str, t: &Target, changes: &[Change], what: &str) {
    assert_eq!(run_state(w, id)["status"], "succeeded", "{what}");
    let cluster = kube.get("Cluster", NS, CLUSTER).expect("restored");
    let new_uid = cluster["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(
        changes,
        [
            Change::Deleted(t.old_uid.clone()),
            Change::Added(new_uid.clone())
        ],
        "{what}: the old Cluster deleted once, one new Cluster"
    );
    assert_eq!(
        cluster["metadata"]["labels"]["cnpgops.io/run-id"], id,
        "{what}"
    );
    let jobs = kube.list(
        "Job",
        NS,
        &format!("cnpg.io/cluster={CLUSTER},cnpg.io/jobRole=full-recovery"),
    );
    let recoveries: Vec<&Value> = jobs
        .iter()
        .filter(|j| {
            let owners = j["metadata"]["ownerReferences"].as_array();
            owners.is_some_and(|o| o.iter().any(|r| r["uid"] == new_uid.as_str()))
        })
        .collect();
    // The Job's status is the sandbox operator's and the Job controller's business (and
    // late under load): the content below shows the recovery succeeded.
    assert_eq!(recoveries.len(), 1, "{what}: one recovery: {jobs:#?}");
    let asked = &cluster["spec"]["bootstrap"]["recovery"]["recoveryTarget"];
    assert_eq!(asked["backupID"], t.backup_id.as_str(), "{what}: {asked}");
    let now = content(kube);
    let said = format!("{what}: the Cluster holds backup {}", t.backup_id);
    assert_same(("the backup", &t.content), ("restored", &now), &said);
    assert_eq!(replicas(kube, "web-shop-prod", "web"), 1, "{what}: the app");
    assert!(rw::lock_released(kube, CLUSTER), "{what}: the lock is free");
}

#[test]
fn restore_in_place_killed_at_random_moments_resumes_to_the_backup_deleting_once() {
    let kube = Kube::start();
    let (_s3, sync) = shop_world(&kube);
    app_sql(
        &kube,
        CLUSTER,
        "create table marks (id serial primary key, label text)",
    );
    let kills = env_or("CNPGOPS_RESTORE_KILLS", 10) as usize;
    let mut moments = Moments::from_env();
    let history = UidHistory::start(&kube);

    // A clean run, checked like the others: the duration the kills are spread over.
    let t = backed_up(&kube, 0);
    let (w, from) = (World::new(), history.len());
    let t0 = Instant::now();
    kube.run(&w, &args(&t)).code(0);
    let span = t0.elapsed();
    let id = w.only_run()["run_id"].as_str().unwrap().to_string();
    restored_once(&kube, &w, &id, &t, &history.since(from), "the clean run");
    assert_eq!(automated(&kube, "shop-prod"), sync, "auto-sync is back");

    let mut where_ = BTreeMap::<String, u32>::new();
    let t1 = Instant::now();
    for kill in 1..=kills {
        let t = backed_up(&kube, kill);
        let (w, from) = (World::new(), history.len());
        let at = span.mul_f64(moments.next());
        kill_at(kube.cmd(&w, &args(&t)), at);
        let place = landed(&w);
        *where_.entry(place.clone()).or_default() += 1;
        let mut what = format!("kill {kill} at {at:?} ({place})");
        // Every other run: its resume killed too, at a moment uniform over a run.
        let again = moments.next();
        if let Some(id) = unfinished(&w).filter(|_| again < 0.5) {
            let at = span.mul_f64(again * 2.0);
            kill_at(kube.cmd(&w, &["resume", &id, "--yes", "--allow-prod"]), at);
            let place = landed(&w);
            *where_.entry(format!("resume {place}")).or_default() += 1;
            what = format!("{what}, its resume killed at {at:?} ({place})");
        }
        let id = finished(&kube, &w, &args(&t), &what);
        restored_once(&kube, &w, &id, &t, &history.since(from), &what);
        assert_eq!(automated(&kube, "shop-prod"), sync, "{what}: auto-sync");
    }
    let each = t1.elapsed().as_secs_f64() / kills.max(1) as f64;
    eprintln!(
        "{kills} kills over a {span:?} restore ({each:.0}s per kill, backup included) landed: {where_:?}"
    );
    let inside = where_.iter().filter(|(k, _)| k.starts_with("in ")).count();
    assert!(
        kills < 5 || inside > 0,
        "no kill landed inside a step: {where_:?}"
    );
}
