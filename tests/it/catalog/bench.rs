//! The catalog benchmark (`scripts/bench-catalog.sh`; ignored in normal runs): an object store
//! in barman layout with `BENCH_BACKUPS` base backups (default 1,000) and `BENCH_WALS` WAL
//! segments (default 100,000), written straight to the sandbox's S3 server; `cnpgops backups`
//! and `barman-cloud-backup-list` timed on it, and cnpgops's S3 request count measured at a
//! tenth of the WAL and at all of it.

use std::process::Command;
use std::time::{Duration, Instant};

use cnpgops_sandbox::world::s3_faults::{S3Fault, S3FaultKind};
use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::{cluster, store, Store, NS};
use crate::harness::World;
use crate::sandbox::Kube;

const DONE_INFO: &str = include_str!("../../../src/backup_catalog/backup_info/done.info");
const PREFIX: &str = "bench";
const SERVER: &str = "bench-srv";
/// PUTs in flight while writing the store.
const WRITERS: usize = 48;

fn env_count(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `backup.info` of backup `i`: one a day from 2024-01-01, each ending a minute after its start.
fn backup(i: u32) -> (String, String) {
    let begin = chrono::DateTime::from_timestamp(1_704_067_200 + i64::from(i) * 86_400, 0).unwrap();
    let end = begin + chrono::Duration::seconds(60);
    let id = begin.format("%Y%m%dT%H%M%S").to_string();
    let py = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
    let body: String = DONE_INFO
        .lines()
        .map(|l| match l.split_once('=') {
            Some(("begin_time", _)) => format!("begin_time={}", py(begin)),
            Some(("end_time", _)) => format!("end_time={}", py(end)),
            Some(("backup_name", _)) => {
                format!("backup_name=backup-{}", begin.format("%Y%m%d%H%M%S"))
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    (format!("{PREFIX}/{SERVER}/base/{id}/backup.info"), body)
}

/// The key of WAL segment `i` on timeline 1 (16 MiB segments: 256 per log id).
fn wal(i: u32) -> String {
    let (log, seg) = (i / 256, i % 256);
    format!("{PREFIX}/{SERVER}/wals/00000001{log:08X}/00000001{log:08X}{seg:08X}.gz")
}

fn write_all(kube: &Kube, s3: &Store, objects: Vec<(String, String)>) {
    let client = s3.client.clone();
    let puts = stream::iter(objects).map(|(key, body)| {
        let client = client.clone();
        async move {
            let put = client
                .put_object()
                .bucket("backups")
                .key(&key)
                .body(body.into_bytes().into());
            put.send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{key}: {e:?}"))
        }
    });
    let failed = kube.block_on(
        puts.buffer_unordered(WRITERS)
            .filter_map(|r| async { r.err() })
            .collect::<Vec<_>>(),
    );
    assert!(
        failed.is_empty(),
        "{} PUTs failed, first: {}",
        failed.len(),
        failed[0]
    );
}

/// Best of `runs` wall-clock times of `cmd`, and its last stdout.
fn time(runs: u32, mut cmd: impl FnMut() -> Command) -> (Duration, String) {
    let mut best = Duration::MAX;
    let mut out = String::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let o = cmd().output().expect("runs");
        best = best.min(t0.elapsed());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    (best, out)
}

fn barman_list(s3: &Store, format: &str) -> Command {
    let venv = std::env::var("CNPGOPS_BARMAN_VENV").unwrap_or("/opt/cnpgops/venv-barman".into());
    let mut cmd = Command::new(format!("{venv}/bin/barman-cloud-backup-list"));
    let home = std::env::temp_dir().join("cnpgops-bench-home");
    crate::harness::hermetic(&mut cmd, &home);
    cmd.args(["--format", format, "--endpoint-url", &s3.endpoint])
        .arg(format!("s3://backups/{PREFIX}"))
        .arg(SERVER)
        .env("AWS_ACCESS_KEY_ID", &s3.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    cmd
}

fn requests(listing: &str) -> u64 {
    let v: Value = serde_json::from_str(listing).expect("json");
    v["catalog"]["requests"].as_u64().expect("requests")
}

#[test]
#[ignore = "a benchmark: scripts/bench-catalog.sh"]
fn bench_catalog() {
    let (backups, wals) = (
        env_count("BENCH_BACKUPS", 1000),
        env_count("BENCH_WALS", 100_000),
    );
    let (kube, w) = (Kube::start(), World::new());
    kube.namespace(NS);
    let s3 = store(&kube);
    super::object_store(&kube, "bench", &s3.endpoint, PREFIX);
    // Not the WAL archiver: the sandbox leaves the store alone; cnpgops reads it all the same.
    let plugin = format!("  plugins:\n  - {{name: barman-cloud.cloudnative-pg.io, isWALArchiver: false, parameters: {{barmanObjectName: bench, serverName: {SERVER}}}}}\n");
    cluster(&kube, "bench-cnpg", &plugin);

    let t0 = Instant::now();
    let tenth = wals / 10;
    let mut objects: Vec<(String, String)> = (0..backups).map(backup).collect();
    objects.extend((0..tenth).map(|i| (wal(i), "x".to_string())));
    write_all(&kube, &s3, objects);
    let cache = w.path("cache");
    let run = |extra: &'static [&'static str]| {
        let (kube, w, cache) = (&kube, &w, cache.clone());
        move || {
            let mut cmd = kube.cmd(w, &[&["backups", "bench", "-o", "json"], extra].concat());
            cmd.env("CNPGOPS_CACHE_DIR", &cache);
            cmd
        }
    };
    let (_, small) = time(1, run(&["--no-cache"]));
    write_all(
        &kube,
        &s3,
        (tenth..wals).map(|i| (wal(i), "x".to_string())).collect(),
    );
    eprintln!(
        "wrote {backups} backups and {wals} WAL objects in {:.1}s",
        t0.elapsed().as_secs_f64()
    );

    let (cold, listing) = time(3, run(&["--no-cache"]));
    let (warm, warm_listing) = time(3, run(&[]));
    let (json, _) = time(3, || barman_list(&s3, "json"));
    let (console, _) = time(1, || barman_list(&s3, "console"));
    let v: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(
        v["catalog"]["backups"].as_array().unwrap().len(),
        backups as usize
    );
    assert_eq!(
        v["catalog"]["archive"]["timelines"][0]["last"],
        wal(wals - 1)
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".gz")
    );
    let secs = |d: Duration| d.as_secs_f64();
    let report = [
        ("cnpgops backups --no-cache (best of 3)", secs(cold)),
        (
            "cnpgops backups, backup.info cached (best of 3)",
            secs(warm),
        ),
        (
            "barman-cloud-backup-list --format json (best of 3)",
            secs(json),
        ),
        ("barman-cloud-backup-list, console format", secs(console)),
    ];
    println!("store: {backups} backups, {wals} WAL objects");
    for (what, s) in report {
        println!("{what:<52} {s:>8.3}s");
    }
    println!(
        "ratio barman json / cnpgops --no-cache:   {:.1}x",
        secs(json) / secs(cold)
    );
    println!(
        "ratio barman json / cnpgops cached:       {:.1}x",
        secs(json) / secs(warm)
    );
    println!(
        "ratio barman console / cnpgops cached:    {:.1}x",
        secs(console) / secs(warm)
    );
    println!(
        "cnpgops S3 requests (--no-cache): {} with {tenth} WAL, {} with {wals} WAL",
        requests(&small),
        requests(&listing)
    );
    println!(
        "cnpgops S3 requests with backup.info cached: {}",
        requests(&warm_listing)
    );
    assert_eq!(
        requests(&small),
        requests(&listing),
        "the request count does not grow with WAL"
    );
    with_latency(&kube, &s3, run(&["--no-cache"]));
}

/// The same comparison with a round trip added to every S3 request by the sandbox's S3 proxy
/// (`BENCH_S3_LATENCY_MS`, default 20 ms: a GET of a small object from S3 in the same region;
/// 0 skips it). moto on loopback answers in ~5 ms, which hides what concurrency buys against a
/// real object store: barman-cloud reads one `backup.info` after another.
fn with_latency(kube: &Kube, s3: &Store, cnpgops: impl FnMut() -> Command) {
    let ms = env_count("BENCH_S3_LATENCY_MS", 20);
    if ms == 0 {
        return;
    }
    let faults = kube.sandbox().world.s3_faults();
    faults.add(S3Fault::new(
        "*",
        "/",
        S3FaultKind::Delay(Duration::from_millis(ms.into())),
        u32::MAX,
    ));
    let (cold, _) = time(3, cnpgops);
    let (json, _) = time(1, || barman_list(s3, "json"));
    faults.clear();
    let secs = |d: Duration| d.as_secs_f64();
    println!("with {ms} ms added to every S3 request (the sandbox's S3 proxy):");
    println!(
        "{:<52} {:>8.3}s",
        "cnpgops backups --no-cache (best of 3)",
        secs(cold)
    );
    println!(
        "{:<52} {:>8.3}s",
        "barman-cloud-backup-list --format json",
        secs(json)
    );
    println!(
        "ratio barman json / cnpgops --no-cache:   {:.1}x",
        secs(json) / secs(cold)
    );
}
