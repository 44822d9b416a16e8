//! Interrupted refreshes bring the app back (issue 14, item 5) and a wrong server is refused
//! (item 7), on one small refresh world: SIGTERM while the refresh Job runs exits 5 within the
//! grace budget with the app at its replicas, and `resume` stops it again and finishes; a run
//! SIGKILLed after scaling the app to 0 leaves `cnpgops.io/replicas-before` on the Deployment,
//! and the next run restores that count (not the 0 it finds); a Cluster whose `status.systemID`
//! is not its server's is refused before anything is written; with the profile's
//! `read_only_secret` the source is dumped and verified as a `pg_read_all_data` role.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use crate::fingerprint::{self as fp, assert_same};
use serde_json::Value;

use crate::faults::{kill_after, step};
use crate::harness::World;
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::sandbox::{replicas, Kube};

const ROWS: u32 = 200_000;
const APP_NS: &str = "web-shop-dev";
const ANNOTATION: &str = "cnpgops.io/replicas-before";
const GRACE: Duration = Duration::from_secs(15);

fn annotation(kube: &Kube) -> Value {
    kube.get("Deployment", APP_NS, "web").unwrap()["metadata"]["annotations"][ANNOTATION].clone()
}

fn dev_equals_prod(kube: &Kube, what: &str) {
    let prod = fp::of(kube, "shop-cnpg", "shop", PROD_PASSWORD);
    let dev = fp::of(kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(("prod", &prod), ("dev", &dev), what);
}

/// Starts a refresh, SIGTERMs it once its Job is restoring; (exit code, seconds from the
/// signal to the exit, the JSON lines it printed).
fn sigterm_during_restore(kube: &Kube, w: &World) -> (Option<i32>, Duration, Vec<String>) {
    let grace = format!("{}s", GRACE.as_secs());
    let mut child = kube
        .cmd(
            w,
            &[
                "-o",
                "json",
                "refresh-dev",
                "shop",
                "--yes",
                "--grace",
                &grace,
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut seen, mut signalled) = (Vec::new(), None);
    for line in stdout.lines() {
        let line = line.unwrap();
        if signalled.is_none() && line.contains(cnpgops::support::RESTORE_START) {
            let pid = child.id().to_string();
            let kill = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            assert!(kill.unwrap().success());
            signalled = Some(Instant::now());
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    let t0 = signalled.unwrap_or_else(|| panic!("never saw the restore start: {seen:#?}"));
    (status.code(), t0.elapsed(), seen)
}

/// Creates role `shop_reader` (granted pg_read_all_data) in prod as its superuser (CNPG's
/// `enableSuperuserAccess` with a Secret of ours).
fn create_reader(kube: &Kube) {
    kube.create("apiVersion: v1\nkind: Secret\nmetadata: {name: shop-cnpg-su, namespace: databases}\ntype: kubernetes.io/basic-auth\nstringData: {username: postgres, password: su-Pa55word-2}\n");
    let patch = kube::api::Patch::Merge(serde_json::json!({"spec": {
        "enableSuperuserAccess": true, "superuserSecret": {"name": "shop-cnpg-su"}}}));
    let clusters = kube.api("Cluster", "databases");
    kube.block_on(clusters.patch("shop-cnpg", &Default::default(), &patch))
        .unwrap();
    let prod = rw::address(kube, "shop-cnpg");
    let t0 = Instant::now();
    let su = loop {
        match kube.block_on(rw::try_connect(&prod, "postgres", "su-Pa55word-2")) {
            Ok(c) => break c,
            Err(e) if t0.elapsed() > Duration::from_secs(60) => panic!("no superuser: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    };
    let sql = "CREATE ROLE shop_reader LOGIN PASSWORD 'reader-Pa55word-1'; GRANT pg_read_all_data TO shop_reader";
    kube.block_on(su.batch_execute(sql)).unwrap();
}

#[test]
fn interrupted_refreshes_bring_the_app_back_and_a_wrong_server_is_refused() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", ROWS);

    // SIGTERM while the Job restores: exit 5 within the grace budget, the app back at 2, the
    // annotation gone; the interrupted step stays `running`, the cleanup step succeeded.
    let (code, took, seen) = sigterm_during_restore(&kube, &w);
    assert_eq!(code, Some(5), "{seen:#?}");
    assert!(
        took < GRACE,
        "exited {took:?} after SIGTERM (grace {GRACE:?})"
    );
    assert_eq!(replicas(&kube, APP_NS, "web"), 2, "the app is back");
    assert!(annotation(&kube).is_null(), "the annotation is removed");
    let state = w.only_run();
    assert_eq!(state["status"], "interrupted");
    assert_eq!(step(&state, "dump_restore")["status"], "running");
    assert_eq!(step(&state, "start_app")["status"], "succeeded");
    assert!(
        seen.iter().any(|l| l.contains("running the cleanup steps")),
        "the cleanup is announced: {seen:#?}"
    );
    eprintln!("SIGTERM during the restore: exit 5 after {took:?}");

    // Resume stops the app again before it touches dev (stop_app is run again, recording the
    // original 2 from the checkpoint), adopts the Job, finishes, and brings the app back.
    let id = state["run_id"].as_str().unwrap().to_string();
    let resumed = kube.run(&w, &["-o", "json", "resume", &id, "--yes"]);
    resumed.code(0);
    let scaled: Vec<&str> = resumed
        .stdout
        .lines()
        .filter(|l| l.contains("from 2 to 0 replicas"))
        .collect();
    assert_eq!(scaled.len(), 1, "the app stopped again: {}", resumed.stdout);
    let state = w.only_run();
    assert_eq!(step(&state, "stop_app")["outputs"]["previous"]["web"], 2);
    assert_eq!(replicas(&kube, APP_NS, "web"), 2);
    assert!(annotation(&kube).is_null());
    dev_equals_prod(&kube, "the resumed run finished the refresh");

    // SIGKILL right after the app was scaled to 0: nothing scales it back, but the Deployment
    // says what it was. The next (new) run records 2, not 0, and restores it.
    let w2 = World::new();
    let cmd = kube.cmd(&w2, &["--lock-ttl", "3s", "refresh-dev", "shop", "--yes"]);
    let killed = kill_after(cmd, "stop_app", Duration::from_secs(120), || {
        w2.checkpoints()
            .first()
            .and_then(|t| serde_json::from_str(t).ok())
    });
    assert_eq!(step(&killed, "stop_app")["status"], "succeeded");
    assert_eq!(
        replicas(&kube, APP_NS, "web"),
        0,
        "killed with the app stopped"
    );
    assert_eq!(
        annotation(&kube),
        "2",
        "the count before, on the Deployment"
    );
    std::thread::sleep(Duration::from_secs(4)); // the killed run's lock expires (--lock-ttl)
    let w3 = World::new();
    kube.run(&w3, &["refresh-dev", "shop", "--yes"]).code(0);
    assert_eq!(
        step(&w3.only_run(), "stop_app")["outputs"]["previous"]["web"],
        2
    );
    assert_eq!(
        replicas(&kube, APP_NS, "web"),
        2,
        "the original count, not 0"
    );
    assert!(annotation(&kube).is_null());

    // A Cluster whose recorded system identifier is not its server's (what a context pointing
    // at another cluster's database looks like): refused before any write. CNPG's operator
    // rewrites status.systemID from its instances on every reconcile; its own annotation
    // `cnpg.io/reconciliationLoop: disabled` stops that while the status is forged (a status
    // write of a reconcile already under way conflicts: CNPG updates it at a resourceVersion).
    let dev_before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    kube.cnpg_reconciles("databases", "shop-dev-cnpg", false);
    let real =
        kube.get("Cluster", "databases", "shop-dev-cnpg").unwrap()["status"]["systemID"].clone();
    assert!(
        real.is_string(),
        "the sandbox's CNPG records status.systemID"
    );
    let other = serde_json::json!({"systemID": "7000000000000000001"});
    kube.set_status("Cluster", "databases", "shop-dev-cnpg", other);
    let w4 = World::new();
    let ran = kube.run(&w4, &["refresh-dev", "shop", "--yes"]);
    ran.code(3);
    assert!(
        ran.stderr.contains("7000000000000000001") && ran.stderr.contains(real.as_str().unwrap()),
        "both identifiers named: {}",
        ran.stderr
    );
    let state = w4.only_run();
    assert_eq!(
        step(&state, "stop_app")["status"],
        "pending",
        "the app was not touched"
    );
    assert_eq!(replicas(&kube, APP_NS, "web"), 2);
    let dev_after = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(
        ("dev before", &dev_before),
        ("dev after", &dev_after),
        "dev unchanged",
    );
    assert!(
        kube.list(
            "Job",
            "databases",
            &format!("cnpgops.io/run-id={}", state["run_id"].as_str().unwrap())
        )
        .is_empty(),
        "no Job created"
    );

    // Item 8: the profile names a pg_read_all_data role's Secret; the refresh reads prod as it
    // (the Job's source credentials are that Secret) and still makes dev equal to prod.
    kube.set_status(
        "Cluster",
        "databases",
        "shop-dev-cnpg",
        serde_json::json!({"systemID": real}),
    );
    kube.cnpg_reconciles("databases", "shop-dev-cnpg", true);
    create_reader(&kube);
    kube.create("apiVersion: v1\nkind: Secret\nmetadata: {name: shop-prod-readonly, namespace: databases}\ntype: kubernetes.io/basic-auth\nstringData: {username: shop_reader, password: reader-Pa55word-1}\n");
    let w5 = World::new();
    let config = w5.path("config.yaml");
    let profile = "profile: ro\nprofiles:\n  ro:\n    read_only_secret: \"{app}-{env}-readonly\"\n";
    std::fs::write(&config, profile).unwrap();
    let config = config.display().to_string();
    kube.run(&w5, &["--config", &config, "refresh-dev", "shop", "--yes"])
        .code(0);
    dev_equals_prod(&kube, "refreshed through the read-only role");
    let id = w5.only_run()["run_id"].as_str().unwrap().to_string();
    let job = &kube.list("Job", "databases", &format!("cnpgops.io/run-id={id}"))[0];
    let env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let user = env
        .iter()
        .find(|e| e["name"] == "SRC_USER")
        .expect("SRC_USER");
    assert_eq!(
        user["valueFrom"]["secretKeyRef"]["name"],
        "shop-prod-readonly"
    );
}
