//! The catalog benchmark (`scripts/bench-catalog.sh`; ignored in normal runs): an object store
//! in barman layout with `BENCH_BACKUPS` base backups (default 1,000) and `BENCH_WALS` WAL
//! segments (default 100,000), written straight to the sandbox's S3 server; `cnpgops backups`
//! and `barman-cloud-backup-list` timed on it, and cnpgops's S3 request count measured at a
//! tenth of the WAL and at all of it; then where the cold listing's time goes ([`probe`]) and
//! everything again with S3 latency added. `CNPGOPS=path` times that binary (the release build
//! `scripts/bench-catalog.sh` makes) instead of the test profile's.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::{cluster, store, Store, NS};
use crate::harness::World;
use crate::sandbox::Kube;

mod probe;

const DONE_INFO: &str = include_str!("../../../../src/backup_catalog/backup_info/done.info");
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
fn time(runs: u32, cmd: impl FnMut() -> Command) -> (Duration, String) {
    let (best, _, out) = probe::time_cpu(runs, cmd);
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

/// The `cnpgops` binary timed: `$CNPGOPS` when set, else the test profile's.
fn cnpgops_bin() -> PathBuf {
    std::env::var_os("CNPGOPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::harness::bin().into())
}

/// The store and the sandbox it lives in.
struct Bench {
    kube: Kube,
    w: World,
    s3: Store,
    backups: u32,
    wals: u32,
}

impl Bench {
    /// `cnpgops backups bench -o json EXTRA` with the bench's cache directory.
    fn cnpgops(&self, extra: &'static [&'static str]) -> impl FnMut() -> Command + '_ {
        move || {
            let mut cmd = self.w.program(cnpgops_bin());
            cmd.args(["backups", "bench", "-o", "json"])
                .args(extra)
                .arg("--kubeconfig")
                .arg(&self.kube.kubeconfig)
                .stdin(std::process::Stdio::null())
                .env("CNPGOPS_CACHE_DIR", self.w.path("cache"));
            cmd
        }
    }

    /// The sandbox, the ObjectStore and Cluster pointing at the store, and the first tenth of
    /// the WAL written; returns the `--no-cache` listing at that tenth.
    fn start() -> (Bench, String) {
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
        let b = Bench {
            kube,
            w,
            s3,
            backups,
            wals,
        };
        let t0 = Instant::now();
        let mut objects: Vec<(String, String)> = (0..backups).map(backup).collect();
        objects.extend((0..wals / 10).map(|i| (wal(i), "x".to_string())));
        write_all(&b.kube, &b.s3, objects);
        let (_, small) = time(1, b.cnpgops(&["--no-cache"]));
        let rest = (wals / 10..wals).map(|i| (wal(i), "x".to_string()));
        write_all(&b.kube, &b.s3, rest.collect());
        eprintln!(
            "wrote {backups} backups and {wals} WAL objects in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
        (b, small)
    }

    /// Checks the listing found every backup and the last WAL segment.
    fn check(&self, listing: &str) {
        let v: Value = serde_json::from_str(listing).unwrap();
        let found = v["catalog"]["backups"].as_array().unwrap().len();
        assert_eq!(found, self.backups as usize);
        let last = wal(self.wals - 1);
        let last = last.rsplit('/').next().unwrap().trim_end_matches(".gz");
        assert_eq!(v["catalog"]["archive"]["timelines"][0]["last"], last);
    }

    /// The keys of every `backup.info`.
    fn info_keys(&self) -> Vec<String> {
        (0..self.backups).map(|i| backup(i).0).collect()
    }
}

fn row(what: &str, secs: f64) {
    println!("{what:<60} {secs:>8.3}s");
}

/// barman-cloud-backup-list's time over cnpgops's, cold and cached.
fn ratios(barman: Duration, cold: Duration, cached: Duration) {
    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "ratio barman json / cnpgops --no-cache:   {:.1}x",
        secs(barman) / secs(cold)
    );
    println!(
        "ratio barman json / cnpgops cached:       {:.1}x",
        secs(barman) / secs(cached)
    );
}

#[test]
#[ignore = "a benchmark: scripts/bench-catalog.sh"]
fn bench_catalog() {
    let (b, small) = Bench::start();
    let (cold, cold_cpu, listing) = probe::time_cpu(3, b.cnpgops(&["--no-cache"]));
    let (warm, _, warm_listing) = probe::time_cpu(3, b.cnpgops(&[]));
    let (json, _) = time(3, || barman_list(&b.s3, "json"));
    let (console, _) = time(1, || barman_list(&b.s3, "console"));
    b.check(&listing);
    let secs = |d: Duration| d.as_secs_f64();
    println!("store: {} backups, {} WAL objects", b.backups, b.wals);
    row("cnpgops backups --no-cache (best of 3)", secs(cold));
    row(
        "cnpgops backups, backup.info cached (best of 3)",
        secs(warm),
    );
    row(
        "barman-cloud-backup-list --format json (best of 3)",
        secs(json),
    );
    row("barman-cloud-backup-list, console format", secs(console));
    ratios(json, cold, warm);
    println!(
        "ratio barman console / cnpgops cached:    {:.1}x",
        secs(console) / secs(warm)
    );
    let (few, all) = (requests(&small), requests(&listing));
    println!(
        "cnpgops S3 requests (--no-cache): {few} with {} WAL, {all} with {} WAL",
        b.wals / 10,
        b.wals
    );
    println!(
        "cnpgops S3 requests with backup.info cached: {}",
        requests(&warm_listing)
    );
    assert_eq!(few, all, "the request count does not grow with WAL");
    probe::where_time_goes(&b, cold, cold_cpu, warm);
    probe::with_latency(&b);
}
