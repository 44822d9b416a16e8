//! The default refresh killed at its switch: the restore's transaction holds every row, index
//! and constraint and waits at its last DDL before the COMMIT (an event trigger on dev makes it
//! wait for an advisory lock the test holds); the restore's Pod is killed there. Dev is as it
//! was — the restore's backend, slow to end (stopped until cnpgops asks it to end, then 2 s
//! more), is gone when cnpgops exits — the app is back, and `resume` finishes the refresh —
//! while the job controller lags
//! (the kube-controller-manager paused, as on a starved or failing-over control plane), so the
//! killed Job has no `Failed` condition yet when the resume finds it (CI once hit that by
//! chance under load: the resume followed the dead Job and failed). Before that, the refresh's
//! `terminate` step meets the app's session left on dev, slow to end too: no restore Job may
//! start while it is there. The oracle is the tests' own fingerprint of both databases, dev's
//! `pg_stat_activity`, the backends' pending signals and the Jobs' own status.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::fingerprint::{self as fp, assert_same};
use crate::harness::World;
use crate::refresh_verify::superuser;
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::sandbox::{replicas, Kube};

/// Makes the statement that adds `orders_customer_id_fkey` (the constraints phase: the data
/// and indexes are in) wait for advisory lock 4216 inside the restore's transaction. The
/// function lives in `information_schema`, which no inventory or fingerprint lists.
const HOLD_AT_SWITCH: &str = r#"
CREATE FUNCTION information_schema.test_hold() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF r.command_tag = 'ALTER TABLE' AND r.object_identity = 'shop.orders'
      AND EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'orders_customer_id_fkey') THEN
      PERFORM pg_advisory_xact_lock(4216);
    END IF;
  END LOOP;
END $$;
CREATE EVENT TRIGGER test_hold ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
  EXECUTE FUNCTION information_schema.test_hold();
ALTER EVENT TRIGGER test_hold ENABLE ALWAYS;
"#;

const KCM: &str = "kube-controller-manager";

/// The kube-controller-manager paused (SIGSTOP) while this lives; continued on drop, even when
/// an assertion fails.
struct Lagging<'a>(&'a Kube);

impl<'a> Lagging<'a> {
    fn start(kube: &'a Kube) -> Self {
        kube.sandbox().pause_component(KCM, true).unwrap();
        Self(kube)
    }
}

impl Drop for Lagging<'_> {
    fn drop(&mut self) {
        let _ = self.0.sandbox().pause_component(KCM, false);
    }
}

/// SIGTERM, the signal `pg_terminate_backend` sends.
const SIGTERM: i32 = 15;

/// Makes the restore's backend slow to end, as on a busy server: stopped now, continued 2 s
/// after it was asked to end (SIGTERM pending), so that it rolls back and goes only then. The
/// thread says whether it was asked (it continues the backend after 5 min regardless).
fn slow_to_end(backend: u32) -> std::thread::JoinHandle<bool> {
    use cnpgops_sandbox::node::pods::pause_process;
    assert!(
        pause_process(backend, true),
        "the backend is a process of dev's Pod"
    );
    std::thread::spawn(move || {
        let asked = asked_to_end(backend);
        if asked {
            std::thread::sleep(Duration::from_secs(2));
        }
        pause_process(backend, false);
        asked
    })
}

/// Waits (at most 5 min) until `backend` has a SIGTERM pending; whether it came.
fn asked_to_end(backend: u32) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(300) {
        if cnpgops_sandbox::node::pods::signal_pending(backend, SIGTERM) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The app's session left on dev (its Pod went without closing it): the owner, in a
/// transaction holding a lock on `shop.customers`; the client and its backend's pid.
fn app_session_left(kube: &Kube) -> (tokio_postgres::Client, u32) {
    let addr = rw::address(kube, "shop-dev-cnpg");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut config = tokio_postgres::Config::new();
    config.host(host).port(port.parse().unwrap());
    config.user("shop").password(DEV_PASSWORD).dbname("shop");
    kube.block_on(async {
        let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("BEGIN; LOCK TABLE shop.customers IN ACCESS SHARE MODE")
            .await
            .unwrap();
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        (client, pid as u32)
    })
}

/// The refresh Jobs (`dump_restore`), oldest first.
fn restore_jobs(kube: &Kube) -> Vec<serde_json::Value> {
    let mut jobs = kube.list("Job", "databases", "cnpgops.io/step=dump_restore");
    jobs.sort_by_key(|j| {
        j["metadata"]["creationTimestamp"]
            .as_str()
            .map(String::from)
    });
    jobs
}

/// Whether the Job has condition `type_` set to True.
fn has_condition(job: &serde_json::Value, type_: &str) -> bool {
    let conditions = job["status"]["conditions"].as_array().cloned();
    conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c["type"] == type_ && c["status"] == "True")
}

/// The restore's session on dev once it waits for the test's advisory lock: its statement and
/// its backend's pid.
fn restore_waiting(kube: &Kube, client: &tokio_postgres::Client) -> (String, u32) {
    let sql = "SELECT query, pid FROM pg_stat_activity \
               WHERE application_name LIKE 'cnpgops-restore-%' AND backend_xid IS NOT NULL \
               AND wait_event_type = 'Lock' AND wait_event = 'advisory'";
    let t0 = Instant::now();
    loop {
        let rows = kube.block_on(client.query(sql, &[])).unwrap();
        if let Some(row) = rows.first() {
            return (row.get(0), row.get::<_, i32>(1) as u32);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the restore never reached its constraints"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_restore_killed_at_its_last_statement_before_commit_leaves_dev_as_it_was() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 20_000);
    let postgres = superuser(&kube);
    kube.block_on(postgres.batch_execute(HOLD_AT_SWITCH))
        .unwrap();
    kube.block_on(postgres.batch_execute("SELECT pg_advisory_lock(4216)"))
        .unwrap();
    let dev_before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);

    // `terminate` meets the app's session slow to end (stopped until asked to end): the
    // restore must not start before that session is gone.
    let (app, app_backend) = app_session_left(&kube);
    assert!(
        cnpgops_sandbox::node::pods::pause_process(app_backend, true),
        "the app's backend is a process of dev's Pod"
    );
    let child = kube
        .cmd(&w, &["refresh-dev", "shop", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        asked_to_end(app_backend),
        "terminate ended the app's session"
    );
    let asked = Instant::now();
    while asked.elapsed() < Duration::from_secs(10) {
        assert_eq!(
            restore_jobs(&kube).len(),
            0,
            "the restore started while the ended app session was still there"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    cnpgops_sandbox::node::pods::pause_process(app_backend, false);
    drop(app);
    let (statement, backend) = restore_waiting(&kube, &postgres);
    assert!(
        statement.contains("FOREIGN KEY"),
        "held at the constraint: {statement}"
    );
    let pods = kube.list("Pod", "databases", "cnpgops.io/step=dump_restore");
    let pod = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    let lagging = Lagging::start(&kube);
    let slow = slow_to_end(backend);
    eprintln!("killing {pod} at: {statement}, the job controller paused");
    assert!(cnpgops_sandbox::node::pods::kill("databases", &pod));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("step `dump_restore` failed"), "{stderr}");
    assert!(
        stderr.contains("terminated 1 session(s) on database `shop` of Cluster"),
        "{stderr}"
    );
    assert!(stderr.contains("was left as it was"), "{stderr}");
    // No restore session is left on dev (the dead Pod's would wait for the lock, then for TCP
    // keepalive, holding the restore's locks on dev: cnpgops ends it).
    let left: i64 = kube
        .block_on(postgres.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'cnpgops-restore-%'",
            &[],
        ))
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "{stderr}");
    assert!(slow.join().unwrap(), "cnpgops ended the restore's backend");
    kube.block_on(postgres.batch_execute("SELECT pg_advisory_unlock(4216)"))
        .unwrap();
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2, "the app is back");
    assert!(rw::lock_released(&kube, "shop-dev-cnpg"), "lock released");
    let dev_after_kill = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(
        ("dev before", &dev_before),
        ("dev", &dev_after_kill),
        "killed before its COMMIT: dev as it was",
    );

    kube.block_on(postgres.batch_execute(
        "DROP EVENT TRIGGER test_hold; DROP FUNCTION information_schema.test_hold()",
    ))
    .unwrap();
    let killed = restore_jobs(&kube);
    assert_eq!(killed.len(), 1);
    assert!(
        !has_condition(&killed[0], "Failed"),
        "the paused job controller has not judged the killed Job yet: {:#}",
        killed[0]["status"]
    );
    let run_id = w.only_run()["run_id"].as_str().unwrap().to_string();
    let mut child = kube
        .cmd(&w, &["resume", &run_id, "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The resume starts a new Job (its Pod appears once the job controller runs again).
    let t0 = Instant::now();
    while restore_jobs(&kube).len() < 2 && child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(300), "no new Job");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(lagging);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("of an earlier attempt failed") && stderr.contains(&pod),
        "the resume says why it starts a new Job: {stderr}"
    );
    // The job controller, running again, judges both: the killed Job failed, the new one
    // completed (its condition may follow the product's exit by a second).
    let t0 = Instant::now();
    loop {
        let jobs = restore_jobs(&kube);
        assert_eq!(jobs.len(), 2, "one new Job");
        if has_condition(&jobs[0], "Failed") && has_condition(&jobs[1], "Complete") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "{jobs:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let prod = fp::of(&kube, "shop-cnpg", "shop", PROD_PASSWORD);
    let dev = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(
        ("prod", &prod),
        ("dev", &dev),
        "resume finished the refresh",
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2);

    // cnpgops itself killed while its Job holds at the switch: the resume follows that Job to
    // its end and verifies with the rows the restore counted, reading none of them again.
    kube.block_on(postgres.batch_execute(HOLD_AT_SWITCH))
        .unwrap();
    kube.block_on(postgres.batch_execute("SELECT pg_advisory_lock(4216)"))
        .unwrap();
    let mut child = kube
        .cmd(&w, &["refresh-dev", "shop", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    restore_waiting(&kube, &postgres);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let run_id = w
        .checkpoints()
        .iter()
        .map(|c| serde_json::from_str::<serde_json::Value>(c).unwrap())
        .find(|r| r["status"] != "succeeded")
        .expect("the killed run's checkpoint")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (resumed, lines) = with_stderr_lines(
        kube.cmd(&w, &["resume", &run_id, "--yes"])
            .stdout(Stdio::null()),
    );
    let following = lines
        .iter()
        .find(|l| l.contains("following Job"))
        .unwrap_or_else(|| panic!("the resume follows the running Job: {lines:#?}"));
    assert!(
        following.contains("started by an earlier attempt"),
        "{following}"
    );
    kube.block_on(postgres.batch_execute(
        "SELECT pg_advisory_unlock(4216); DROP EVENT TRIGGER test_hold; \
         DROP FUNCTION information_schema.test_hold()",
    ))
    .unwrap();
    let (code, stderr) = resumed.finish(lines);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("tables' rows as the restore's transaction counted them"),
        "verify took the followed Job's counts: {stderr}"
    );
    assert_eq!(
        restore_jobs(&kube).len(),
        3,
        "no new Job: the killed run's was followed"
    );
    let dev = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(
        ("prod", &prod),
        ("dev", &dev),
        "the followed Job refreshed dev",
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2);
}

/// A spawned command whose stderr lines are read as they come.
struct Streaming {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

/// Spawns `cmd` and returns it with its stderr lines read so far once one says it follows a
/// Job (or stderr ends).
fn with_stderr_lines(cmd: &mut std::process::Command) -> (Streaming, Vec<String>) {
    use std::io::BufRead;
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(300)) {
        let done = line.contains("following Job");
        seen.push(line);
        if done {
            break;
        }
    }
    (Streaming { child, lines: rx }, seen)
}

impl Streaming {
    /// Waits for the exit; the exit code and every stderr line (`seen` first).
    fn finish(mut self, seen: Vec<String>) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let mut all = seen;
        all.extend(self.lines.iter());
        (status.code(), all.join("\n"))
    }
}
