//! `cnpgops migrations resync` under API and PostgreSQL faults, one synestra sandbox: each case
//! starts from a failed migration hook (the scenario's, then one made to fail again).

use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::watcher;

use super::*;

const RESYNC: &[&str] = &["migrations", "resync", "synestra-io"];
const APP: &str = "/namespaces/argocd/applications/web-synestra-io-dev";

fn hook(kube: &Kube) -> Value {
    kube.get("Job", APP_NS, "web-migrate")
        .expect("the hook Job")
}

fn hook_failed(kube: &Kube) -> bool {
    let job = hook(kube);
    let conditions = job["status"]["conditions"].as_array().cloned();
    conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c["type"] == "Failed" && c["status"] == "True")
}

/// The dev Application Synced and Healthy after its last operation succeeded, with a new hook.
#[track_caller]
fn synced(kube: &Kube, old_hook_uid: &Value) {
    let app = kube.get("Application", "argocd", APP_NS).unwrap();
    assert_eq!(app["status"]["sync"]["status"], "Synced", "{app:#}");
    assert_eq!(app["status"]["health"]["status"], "Healthy");
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");
    let new = hook(kube);
    assert_ne!(&new["metadata"]["uid"], old_hook_uid, "a new hook ran");
    assert!(!hook_failed(kube));
    assert!(lock_released(kube), "the lock is released");
}

/// Counts the sync operations cnpgops writes to the dev Application: a watch started before
/// the run sees every write, so each `operation` set by cnpgops where there was none counts.
struct Syncs {
    count: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Syncs {
    fn watch(kube: &Kube) -> Self {
        let api = kube.api("Application", "argocd");
        let count = Arc::new(AtomicU32::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let (counted, listed) = (count.clone(), ready.clone());
        let task = kube.spawn(async move {
            let mut had_op = false;
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(event) = events.next().await {
                let app = match event {
                    Ok(watcher::Event::Apply(app) | watcher::Event::InitApply(app)) => app,
                    Ok(watcher::Event::InitDone) => {
                        listed.store(true, Ordering::SeqCst);
                        continue;
                    }
                    _ => continue,
                };
                if app.metadata.name.as_deref() != Some(APP_NS) {
                    continue;
                }
                let op = &app.data["operation"];
                let ours = op["initiatedBy"]["username"]
                    .as_str()
                    .is_some_and(|u| u.contains("cnpgops"));
                if ours && !had_op {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                had_op = !op.is_null();
            }
        });
        let t0 = Instant::now();
        while !ready.load(Ordering::SeqCst) {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the watch never listed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { count, task }
    }

    /// Stops watching; how many syncs were written.
    fn stop(self) -> u32 {
        self.task.abort();
        self.count.load(Ordering::SeqCst)
    }
}

/// Makes the migration fail once more (as a bad deploy would): `force-fail`, a sync written
/// as Argo CD's CLI writes it, wait for the failed operation, then clear `force-fail`.
fn fail_again(kube: &Kube) {
    let cm = "web-synestra-io-dev-migrations";
    let set = |v: &str| {
        let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm}, "data": {"force-fail": v}});
        let api = kube.api("ConfigMap", APP_NS);
        let pp = kube::api::PatchParams::apply("fault-test").force();
        kube.block_on(api.patch(cm, &pp, &kube::api::Patch::Apply(body)))
            .unwrap();
    };
    set("true");
    let op = serde_json::json!({"operation": {"sync": {"prune": true}, "initiatedBy": {"username": "fault-test"}}});
    let api = kube.api("Application", "argocd");
    kube.block_on(api.patch(APP_NS, &Default::default(), &kube::api::Patch::Merge(op)))
        .unwrap();
    let t0 = Instant::now();
    loop {
        let app = kube.get("Application", "argocd", APP_NS).unwrap();
        if app["operation"].is_null() && app["status"]["operationState"]["phase"] == "Failed" {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never failed: {app:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(hook_failed(kube), "the hook failed again");
    set("false");
}

#[test]
fn migration_resync_under_api_and_postgres_faults() {
    let kube = Kube::start();
    kube.scenario("synestra.yaml");
    let prod0 = fingerprint(&kube, PROD);
    assert!(hook_failed(&kube), "the scenario starts with a failed hook");

    // 500 on a write (deleting the failed hook Job): the step fails naming itself and the
    // resume command, nothing synced; resume deletes it and syncs.
    let old = hook(&kube)["metadata"]["uid"].clone();
    api_fault(
        &kube,
        "DELETE",
        "/namespaces/web-synestra-io-dev/jobs/web-migrate",
        500,
        1,
    );
    let (w, ran) = run_local(&kube, RESYNC);
    let id = w.only_run()["run_id"].as_str().unwrap().to_string();
    failed_naming_step(&ran, "delete", &id);
    assert_eq!(
        hook(&kube)["metadata"]["uid"],
        old,
        "the failed hook is still there"
    );
    let app = kube.get("Application", "argocd", APP_NS).unwrap();
    assert!(app["operation"].is_null(), "nothing synced");
    assert_eq!(app["status"]["operationState"]["phase"], "Failed");
    assert!(lock_released(&kube));
    kube.run(&w, &["resume", &id, "--yes"]).code(0);
    assert_eq!(
        step(&w.only_run(), "delete")["attempts"],
        2,
        "the failed delete, then one"
    );
    synced(&kube, &old);

    // 503 on the sync write: kube-rs retries it, the resync succeeds, one sync written.
    fail_again(&kube);
    let old = hook(&kube)["metadata"]["uid"].clone();
    let hits = served(&kube);
    api_fault(&kube, "PATCH", APP, 503, 1);
    let syncs = Syncs::watch(&kube);
    let (w, ran) = run_local(&kube, RESYNC);
    ran.code(0);
    assert_eq!(served(&kube) - hits, 1, "the 503 was served, then retried");
    assert_eq!(step(&w.only_run(), "sync")["attempts"], 1);
    assert_eq!(syncs.stop(), 1, "synced once");
    synced(&kube, &old);

    // 409 Conflict on the sync write (as if someone synced meanwhile): read again, sync once.
    fail_again(&kube);
    let old = hook(&kube)["metadata"]["uid"].clone();
    let hits = served(&kube);
    api_fault(&kube, "PATCH", APP, 409, 1);
    let syncs = Syncs::watch(&kube);
    let (_w, ran) = run_local(&kube, RESYNC);
    ran.code(0);
    assert_eq!(served(&kube) - hits, 1, "the 409 was served");
    assert_eq!(syncs.stop(), 1, "synced once");
    synced(&kube, &old);

    // Watches dropped and history compacted (410 Gone) all through the run: the hook Job's
    // deletion and the Application's operation and health are watches; they re-list, and the
    // resync succeeds (the sync count is not asserted here: the test's own counting watch
    // would miss writes across the same compactions).
    fail_again(&kube);
    let old = hook(&kube)["metadata"]["uid"].clone();
    let chaos = WatchChaos::start(&kube);
    let (w, ran) = run_local(&kube, RESYNC);
    let rounds = chaos.rounds();
    ran.code(0);
    assert!(rounds > 3, "watches dropped {rounds} times");
    assert_eq!(step(&w.only_run(), "sync")["attempts"], 1);
    synced(&kube, &old);

    // PostgreSQL refusing connections (CONNECTION LIMIT 0 on dev): the migration fails again,
    // its failing line printed, the run fails naming `sync`; once fixed, resume finishes.
    fail_again(&kube);
    let old = hook(&kube)["metadata"]["uid"].clone();
    let addr = rw::address(&kube, DEV);
    let admin = kube.block_on(rw::connect(&addr, OWNER, PASSWORD));
    let limit = |n: i32| {
        let sql = format!("ALTER DATABASE {OWNER} CONNECTION LIMIT {n}");
        kube.block_on(admin.batch_execute(&sql)).unwrap();
    };
    limit(0);
    let refused = kube.block_on(rw::try_connect(&addr, OWNER, PASSWORD));
    let refused = refused.err().map(|e| format!("{e:?}"));
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("too many connections")),
        "{refused:?}"
    );
    let (w, ran) = run_local(&kube, RESYNC);
    let id = w.only_run()["run_id"].as_str().unwrap().to_string();
    failed_naming_step(&ran, "sync", &id);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(all.contains("too many connections"), "{all}");
    limit(-1);
    assert!(lock_released(&kube));
    kube.run(&w, &["resume", &id, "--yes"]).code(0);
    synced(&kube, &old);

    let prod = fingerprint(&kube, PROD);
    assert_same(("prod before", &prod0), ("prod", &prod), "prod unchanged");
}
