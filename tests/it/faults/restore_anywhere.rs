//! `cnpgops restore` in place SIGKILLed at random moments, each run resumed to completion. Odd
//! kills land uniformly over a clean run's duration; even ones uniformly over one step's clean
//! duration from the moment it starts, the steps in turn (so short steps with side effects,
//! `delete` between its DELETE and its checkpoint, `apply`, `restart_app`, are hit too, not
//! only the long `safety_backup` and `wait`); the `resume` of half the runs (drawn from the
//! seed) is killed again. Each run restores the backup taken just before it (`--backup-id`,
//! restored as it ended; a row written after that backup must not come back) and must end
//! with: the Cluster's content the backup's (the tests' fingerprint read right after the
//! backup), the old Cluster deleted once and one new Cluster created (the Cluster's UID history
//! from a watch of the API: exactly `deleted OLD, added NEW`), one recovery Job of the new
//! Cluster, the app restarted once (its Deployment's revision one more) and at its replica
//! count, Argo CD's auto-sync as it was and no lease held. `CNPGOPS_RESTORE_KILLS` sets how many
//! kills (default 10), `CNPGOPS_KILL_SEED` replays a seed, `CNPGOPS_KILL_STEP=ID` aims every
//! even kill at step ID.

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
/// is recorded and fails the check); and every full-recovery Job CNPG created, by the UID of
/// the Cluster owning it (CNPG deletes a bootstrap Job once it completed, so only a watch sees
/// them all).
struct UidHistory {
    seen: Arc<Mutex<Vec<Change>>>,
    recoveries: Arc<Mutex<Vec<Change>>>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl UidHistory {
    fn start(kube: &Kube) -> Self {
        let clusters = kube.api("Cluster", NS);
        let jobs = kube.api("Job", NS);
        let rv = |api: &Api<DynamicObject>| {
            let list = kube.block_on(api.list_metadata(&ListParams::default()));
            list.unwrap().metadata.resource_version.unwrap()
        };
        let (seen, recoveries) = (Arc::default(), Arc::default());
        let of_cluster = WatchParams::default().fields(&format!("metadata.name={CLUSTER}"));
        let recovery_jobs = WatchParams::default().labels("cnpg.io/jobRole=full-recovery");
        let cluster_uid = |o: &DynamicObject| o.metadata.uid.clone().unwrap_or_default();
        let owner_uid = |o: &DynamicObject| {
            let owners = o.metadata.owner_references.iter().flatten();
            owners.map(|r| r.uid.clone()).next().unwrap_or_default()
        };
        let tasks = [
            kube.spawn(record(
                clusters.clone(),
                of_cluster,
                rv(&clusters),
                Arc::clone(&seen),
                cluster_uid,
            )),
            kube.spawn(record(
                jobs.clone(),
                recovery_jobs,
                rv(&jobs),
                Arc::clone(&recoveries),
                owner_uid,
            )),
        ];
        Self {
            seen,
            recoveries,
            tasks,
        }
    }

    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The changes from the `from`th on.
    fn since(&self, from: usize) -> Vec<Change> {
        self.seen.lock().unwrap()[from..].to_vec()
    }

    /// How many full-recovery Jobs were created for the Cluster with UID `uid`.
    fn recoveries_of(&self, uid: &str) -> usize {
        let seen = self.recoveries.lock().unwrap();
        assert!(
            !seen.iter().any(|c| matches!(c, Change::Lost(_))),
            "the Job watch lost its history: {seen:?}"
        );
        seen.iter()
            .filter(|c| **c == Change::Added(uid.into()))
            .count()
    }
}

impl Drop for UidHistory {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn record(
    api: Api<DynamicObject>,
    wp: WatchParams,
    mut rv: String,
    seen: Arc<Mutex<Vec<Change>>>,
    id: impl Fn(&DynamicObject) -> String,
) {
    let wp = wp.timeout(120);
    loop {
        let Ok(stream) = api.watch(&wp, &rv).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut stream = stream.boxed();
        while let Some(Ok(event)) = stream.next().await {
            let (change, version) = match event {
                WatchEvent::Added(o) => (Some(Change::Added(id(&o))), o.metadata.resource_version),
                WatchEvent::Deleted(o) => {
                    (Some(Change::Deleted(id(&o))), o.metadata.resource_version)
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
    app_revision: u64,
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

/// The app Deployment's revision (`deployment.kubernetes.io/revision`: one more per rollout)
/// once its controller has seen its latest spec.
fn app_revision(kube: &Kube) -> u64 {
    let t0 = Instant::now();
    loop {
        let d = kube.get("Deployment", "web-shop-prod", "web").unwrap();
        if d["status"]["observedGeneration"] == d["metadata"]["generation"] {
            let revision = &d["metadata"]["annotations"]["deployment.kubernetes.io/revision"];
            return revision.as_str().unwrap().parse().unwrap();
        }
        let late = t0.elapsed() > Duration::from_secs(120);
        assert!(
            !late,
            "the Deployment controller never saw the app's spec: {d:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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
        app_revision: app_revision(kube),
    }
}

fn args(t: &Target) -> Vec<&str> {
    [ARGS, &["--backup-id", &t.backup_id]].concat()
}

/// When a run is SIGKILLed: `at` after it starts, or `at` after its step `step` starts.
enum Moment {
    Run(Duration),
    InStep(String, Duration),
}

/// Whether the run in `w` has started `step` (or passed it).
fn reached(w: &World, step_id: &str) -> bool {
    let last = w.checkpoints().pop();
    let state = last.and_then(|s| serde_json::from_str::<Value>(&s).ok());
    state.is_some_and(|s| step(&s, step_id)["status"] != "pending")
}

/// Starts `cmd` and SIGKILLs it at `moment` (or finds it exited).
fn kill_at(mut cmd: std::process::Command, w: &World, moment: &Moment) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut started, at) = match moment {
        Moment::Run(at) => (Some(Instant::now()), *at),
        Moment::InStep(_, at) => (None, *at),
    };
    while child.try_wait().unwrap().is_none() {
        match (started, moment) {
            (Some(t0), _) if t0.elapsed() >= at => break,
            (None, Moment::InStep(id, _)) if reached(w, id) => started = Some(Instant::now()),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(2));
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
/// Cluster, recovering the backup; the app restarted once, at 1 replica; the lock free.
#[track_caller]
fn restored_once(
    kube: &Kube,
    w: &World,
    id: &str,
    t: &Target,
    history: (&UidHistory, usize),
    what: &str,
) {
    let (history, from) = history;
    let changes = history.since(from);
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
    let recoveries = history.recoveries_of(&new_uid);
    assert_eq!(
        recoveries, 1,
        "{what}: one full-recovery Job of the new Cluster"
    );
    let asked = &cluster["spec"]["bootstrap"]["recovery"]["recoveryTarget"];
    assert_eq!(asked["backupID"], t.backup_id.as_str(), "{what}: {asked}");
    let now = content(kube);
    let said = format!("{what}: the Cluster holds backup {}", t.backup_id);
    assert_same(("the backup", &t.content), ("restored", &now), &said);
    assert_eq!(replicas(kube, "web-shop-prod", "web"), 1, "{what}: the app");
    let rollouts = app_revision(kube) - t.app_revision;
    assert_eq!(rollouts, 1, "{what}: the app restarted once");
    assert!(rw::lock_released(kube, CLUSTER), "{what}: the lock is free");
}

/// How long each step of a finished run took.
fn step_times(state: &Value) -> Vec<(String, Duration)> {
    let at = |s: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(s[k].as_str()?).ok();
    let steps = state["steps"].as_array().unwrap();
    let took = |s: &Value| (at(s, "finished_at")? - at(s, "started_at")?).to_std().ok();
    let times = steps
        .iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_string(), took(s)?)));
    times.collect()
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
    restored_once(&kube, &w, &id, &t, (&history, from), "the clean run");
    assert_eq!(automated(&kube, "shop-prod"), sync, "auto-sync is back");
    let steps = step_times(&run_state(&w, &id));
    let times: Vec<String> = steps.iter().map(|(s, d)| format!("{s} {d:.1?}")).collect();
    eprintln!("the clean run: {span:.1?}: {}", times.join(", "));
    let first = (moments.next() * steps.len() as f64) as usize;

    let mut where_ = BTreeMap::<String, u32>::new();
    let t1 = Instant::now();
    for kill in 1..=kills {
        let t = backed_up(&kube, kill);
        let (w, from) = (World::new(), history.len());
        // Odd kills: uniform over a run; even ones: uniform over one step's clean duration
        // from its start, the steps in turn (a short step, such as `delete` between its DELETE
        // and its checkpoint, is seldom hit by the first).
        let moment = if kill % 2 == 1 {
            Moment::Run(span.mul_f64(moments.next()))
        } else {
            let pinned = std::env::var("CNPGOPS_KILL_STEP").ok();
            let turn = &steps[(first + kill / 2) % steps.len()];
            let (id, took) = pinned
                .and_then(|p| steps.iter().find(|(id, _)| *id == p))
                .unwrap_or(turn);
            let took = (*took).max(Duration::from_millis(1));
            Moment::InStep(id.clone(), took.mul_f64(moments.next()))
        };
        kill_at(kube.cmd(&w, &args(&t)), &w, &moment);
        let place = landed(&w);
        *where_.entry(place.clone()).or_default() += 1;
        let mut what = match &moment {
            Moment::Run(at) => format!("kill {kill} at {at:?} ({place})"),
            Moment::InStep(id, at) => format!("kill {kill} at {at:?} into {id} ({place})"),
        };
        // Half the runs (drawn): the resume killed too, at a moment uniform over a run.
        let again = moments.next();
        if let Some(id) = unfinished(&w).filter(|_| again < 0.5) {
            let at = span.mul_f64(again * 2.0);
            let resume = kube.cmd(&w, &["resume", &id, "--yes", "--allow-prod"]);
            kill_at(resume, &w, &Moment::Run(at));
            let place = landed(&w);
            *where_.entry(format!("resume {place}")).or_default() += 1;
            what = format!("{what}, its resume killed at {at:?} ({place})");
        }
        let id = finished(&kube, &w, &args(&t), &what);
        restored_once(&kube, &w, &id, &t, (&history, from), &what);
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
