//! Where the catalog benchmark's cold listing spends its time: cnpgops's CPU, its fixed cost
//! (the cached run: process start, Kubernetes reads, the listings), and the S3 server answering
//! every `backup.info` GET at cnpgops's concurrency sent from this process (the test profile's
//! client: its own CPU is in that figure, an upper bound on the server's part); then the same
//! with S3 latency added by the sandbox's proxy.

use std::process::Command;
use std::time::{Duration, Instant};

use cnpgops_sandbox::world::s3_faults::{S3Fault, S3FaultKind};
use futures::stream::{self, StreamExt};

use super::{barman_list, env_count, ratios, row, time, Bench};

/// `backup.info` GETs in flight, as cnpgops sends them (`backup_catalog::base::CONCURRENCY`).
const IN_FLIGHT: usize = 32;

/// CPU seconds (user + system) of this process's waited-for children so far.
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces): cutime and cstime are 16 and 17.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f[13] + f[14]) / 100.0 // clock ticks (USER_HZ) per second
}

/// Best of `runs` wall-clock times of `cmd`, that run's CPU seconds, and the last stdout.
pub(super) fn time_cpu(runs: u32, mut cmd: impl FnMut() -> Command) -> (Duration, f64, String) {
    let (mut best, mut cpu, mut out) = (Duration::MAX, 0.0, String::new());
    for _ in 0..runs {
        let (c0, t0) = (children_cpu(), Instant::now());
        let o = cmd().output().expect("runs");
        let t = t0.elapsed();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if t < best {
            (best, cpu) = (t, children_cpu() - c0);
        }
        out = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    (best, cpu, out)
}

/// Seconds for the S3 server to answer a GET of every key, `IN_FLIGHT` at a time, sent from
/// this process (no cnpgops, no Kubernetes; this client's CPU included): best of two.
fn gets_alone(b: &Bench, keys: &[String]) -> f64 {
    let client = &b.s3.client;
    let once = || {
        let t0 = Instant::now();
        let gets = stream::iter(keys).map(|key| async move {
            let out = client.get_object().bucket("backups").key(key).send().await;
            out.expect("GET").body.collect().await.expect("body");
        });
        b.kube
            .block_on(gets.buffer_unordered(IN_FLIGHT).collect::<Vec<()>>());
        t0.elapsed().as_secs_f64()
    };
    once().min(once())
}

/// Prints the cold listing's parts: CPU, fixed cost, the GETs from this process.
pub(super) fn where_time_goes(b: &Bench, cold: Duration, cold_cpu: f64, warm: Duration) {
    let keys = b.info_keys();
    let alone = gets_alone(b, &keys);
    println!("where the cold listing's {:.3}s go:", cold.as_secs_f64());
    row("  cnpgops CPU, user + system (cold run)", cold_cpu);
    row(
        "  fixed cost: the cached run (start, Kubernetes reads, listings)",
        warm.as_secs_f64(),
    );
    row(
        &format!(
            "  {} GETs from this test process, {IN_FLIGHT} in flight",
            keys.len()
        ),
        alone,
    );
    println!(
        "  GETs/s that way: {:.0}; fixed cost + those GETs = {:.3}s",
        keys.len() as f64 / alone,
        warm.as_secs_f64() + alone
    );
}

/// The same comparison with a round trip added to every S3 request by the sandbox's S3 proxy
/// (`BENCH_S3_LATENCY_MS`, default 20 ms: a GET of a small object from S3 in the same region;
/// 0 skips it). moto on loopback answers in a few ms, which hides what concurrency buys against
/// a real object store: barman-cloud reads one `backup.info` after another.
pub(super) fn with_latency(b: &Bench) {
    let ms = env_count("BENCH_S3_LATENCY_MS", 20);
    if ms == 0 {
        return;
    }
    let faults = b.kube.sandbox().world.s3_faults();
    let delay = S3FaultKind::Delay(Duration::from_millis(ms.into()));
    faults.add(S3Fault::new("*", "/", delay, u32::MAX));
    let (cold, cpu, _) = time_cpu(3, b.cnpgops(&["--no-cache"]));
    let (warm, _, _) = time_cpu(3, b.cnpgops(&[]));
    let (json, _) = time(1, || barman_list(&b.s3, "json"));
    let alone = gets_alone(b, &b.info_keys());
    faults.clear();
    let secs = |d: Duration| d.as_secs_f64();
    println!("with {ms} ms added to every S3 request (the sandbox's S3 proxy):");
    row("cnpgops backups --no-cache (best of 3)", secs(cold));
    row(
        "cnpgops backups, backup.info cached (best of 3)",
        secs(warm),
    );
    row("barman-cloud-backup-list --format json", secs(json));
    row("  cnpgops CPU, user + system (cold run)", cpu);
    row(
        &format!("  every GET from this test process, {IN_FLIGHT} in flight"),
        alone,
    );
    ratios(json, cold, warm);
}
