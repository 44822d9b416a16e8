//! refresh-dev under API and PostgreSQL faults, one synestra sandbox for every case in turn.

use super::*;

const REFRESH: &[&str] = &["refresh-dev", "synestra-io", "--yes"];

fn run_id(w: &World) -> String {
    w.only_run()["run_id"].as_str().unwrap().to_string()
}

#[test]
fn refresh_dev_under_api_and_postgres_faults() {
    let kube = Kube::start();
    kube.scenario("synestra.yaml");
    let prod0 = fingerprint(&kube, PROD);

    // 503 on a write (the app's scale-down): kube-rs retries it, the refresh succeeds.
    dev_sql(&kube, "CREATE TABLE stale_1 (id int)");
    let hits = served(&kube);
    api_fault(&kube, "PATCH", "/deployments/web/scale", 503, 1);
    let (w, ran) = run_local(&kube, REFRESH);
    ran.code(0);
    assert_eq!(served(&kube) - hits, 1, "the 503 was served, then retried");
    refreshed_once(&kube, &run_id(&w), &prod0);

    // 500 on a write (the Cluster annotation, after the restore): not retried; the step fails
    // naming itself and the resume command; resume annotates without restoring again.
    dev_sql(&kube, "CREATE TABLE stale_2 (id int)");
    api_fault(&kube, "PATCH", "/clusters/synestra-io-dev-cnpg", 500, 1);
    let (w, ran) = run_local(&kube, REFRESH);
    let id = run_id(&w);
    failed_naming_step(&ran, "annotate", &id);
    assert_eq!(
        replicas(&kube, APP_NS, "web"),
        2,
        "scaled back after the failure"
    );
    assert!(lock_released(&kube), "lock released after the failure");
    kube.run(&w, &["resume", &id, "--yes"]).code(0);
    let state = w.only_run();
    assert_eq!(state["status"], "succeeded");
    assert_eq!(step(&state, "dump_restore")["attempts"], 1, "restored once");
    refreshed_once(&kube, &id, &prod0);

    // 409 (AlreadyExists) on a write (the Event): the step fails naming itself; resume records it.
    dev_sql(&kube, "CREATE TABLE stale_3 (id int)");
    api_fault(&kube, "POST", "/namespaces/databases/events", 409, 1);
    let (w, ran) = run_local(&kube, REFRESH);
    let id = run_id(&w);
    failed_naming_step(&ran, "event", &id);
    assert_eq!(
        replicas(&kube, APP_NS, "web"),
        2,
        "scaled back after the failure"
    );
    assert!(lock_released(&kube), "lock released after the failure");
    kube.run(&w, &["resume", &id, "--yes"]).code(0);
    assert_eq!(step(&w.only_run(), "dump_restore")["attempts"], 1);
    refreshed_once(&kube, &id, &prod0);

    // Watches dropped and history compacted (410 Gone) all through the run: the app's Pods
    // going away and the Job followed (the Job, its Pods, its Events) are watches; they
    // re-list and the refresh succeeds.
    dev_sql(&kube, "CREATE TABLE stale_4 (id int)");
    let chaos = WatchChaos::start(&kube);
    let (w, ran) = run_local(&kube, REFRESH);
    let rounds = chaos.rounds();
    ran.code(0);
    assert!(rounds > 3, "watches dropped {rounds} times");
    refreshed_once(&kube, &run_id(&w), &prod0);

    // PostgreSQL refusing connections to dev: `preflight` (the first step that connects to
    // dev) fails with PostgreSQL's error, dev and the app as they were; once connections are
    // allowed again, resume finishes the refresh.
    dev_sql(&kube, "CREATE TABLE stale_5 (id int)");
    let dev_before = fingerprint(&kube, DEV);
    let addr = rw::address(&kube, DEV);
    let admin = kube.block_on(rw::connect(&addr, OWNER, PASSWORD));
    let limit = |n: i32| {
        let sql = format!("ALTER DATABASE {OWNER} CONNECTION LIMIT {n}");
        kube.block_on(admin.batch_execute(&sql)).unwrap();
    };
    limit(0);
    let (w, ran) = run_local(&kube, REFRESH);
    let id = run_id(&w);
    assert_eq!(failed_step(&w.only_run()), "preflight");
    failed_naming_step(&ran, "preflight", &id);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        all.contains("too many connections"),
        "PostgreSQL's error is shown: {all}"
    );
    limit(-1);
    assert_same(
        ("dev before", &dev_before),
        ("dev", &fingerprint(&kube, DEV)),
        "dev as it was",
    );
    assert_eq!(replicas(&kube, APP_NS, "web"), 2);
    assert!(lock_released(&kube));
    kube.run(&w, &["resume", &id, "--yes"]).code(0);
    refreshed_once(&kube, &id, &prod0);
}
