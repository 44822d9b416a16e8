//! S3 faults through the sandbox's S3 proxy (in front of moto): `cnpgops backups` retries
//! 503 SlowDown and lists; barman-cloud (base backup and WAL archiving) retries it too and the
//! Backup completes; a wrong S3 key is bad input (exit 2) naming the Secret, never the key.

use std::time::{Duration, Instant};

use base64::Engine;
use cnpgops_sandbox::world::s3_faults::{S3Fault, S3FaultKind, S3Faults};

use super::*;

const BUCKET: &str = "/synestra-io-backups";
const WALS: &str = "/synestra-io-backups/cnpg/synestra-io-cnpg/wals/";

fn backups(kube: &Kube, w: &World) -> Ran {
    kube.run(w, &["backups", "synestra-io", "-o", "json", "--no-cache"])
}

/// cnpgops' S3 client (aws-sdk-s3) by its User-Agent: the instance's barman-cloud runs list the
/// same bucket at moments of their own, so only cnpgops' requests are counted and throttled.
const CNPGOPS: &str = "aws-sdk-rust/";

/// cnpgops' listings of the bucket the proxy saw.
fn cnpgops_gets(s3: &S3Faults) -> usize {
    s3.count_matching(&S3Fault::new("GET", BUCKET, S3FaultKind::SlowDown, 0).for_agent(CNPGOPS))
}

/// WAL segments the proxy saw uploaded (PUT under `wals/`).
fn wal_uploads(kube: &Kube) -> usize {
    kube.sandbox().world.s3_faults().count("PUT", WALS)
}

#[test]
fn s3_slowdown_is_retried_and_a_wrong_key_is_bad_input() {
    let kube = Kube::start();
    kube.scenario("synestra.yaml");
    let s3 = kube.sandbox().world.s3_faults();
    let w = World::new();

    // Two throttled answers to cnpgops' listings: retried, the catalog is complete.
    let before = cnpgops_gets(&s3);
    let clean = backups(&kube, &w);
    clean.code(0);
    let clean_requests = cnpgops_gets(&s3) - before;
    assert!(clean_requests > 0, "the listing read S3 through the proxy");
    let injected = s3.injected();
    let before = cnpgops_gets(&s3);
    s3.add(S3Fault::new("GET", BUCKET, S3FaultKind::SlowDown, 2).for_agent(CNPGOPS));
    let ran = backups(&kube, &w);
    ran.code(0);
    assert_eq!(s3.injected() - injected, 2, "two SlowDown answers served");
    let requests = cnpgops_gets(&s3) - before;
    assert_eq!(
        requests,
        clean_requests + 2,
        "the clean run's {clean_requests} GETs, plus the two SlowDown answers retried"
    );
    let last = |r: &Ran| r.stdout.clone();
    let listing: Value = serde_json::from_str(&last(&ran)).unwrap();
    let clean_listing: Value = serde_json::from_str(&last(&clean)).unwrap();
    assert_eq!(
        listing["catalog"]["backups"], clean_listing["catalog"]["backups"],
        "the same catalog"
    );
    assert!(!listing["catalog"]["backups"].as_array().unwrap().is_empty());

    // barman-cloud through the proxy: the base backup's uploads and the WAL archiving get
    // SlowDown twice each; boto3 retries, the Backup completes and the WAL arrives.
    let wal_before = wal_uploads(&kube);
    let injected = s3.injected();
    s3.add(S3Fault::new("PUT", "/base/", S3FaultKind::SlowDown, 2));
    s3.add(S3Fault::new("PUT", WALS, S3FaultKind::SlowDown, 2));
    let ran = kube.run(&w, &["backup", "synestra-io", "--wait", "--timeout", "2m"]);
    ran.code(0);
    let t0 = Instant::now();
    while wal_uploads(&kube) < wal_before + 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no WAL archived after the backup"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(s3.injected() - injected, 4, "every SlowDown was served");
    let wal_faults = s3
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains(WALS) && r.fault.is_some())
        .count();
    assert_eq!(
        wal_faults, 2,
        "barman-cloud-wal-archive met the SlowDown and retried"
    );
    let after = backups(&kube, &w);
    after.code(0);
    let listing: Value = serde_json::from_str(&last(&after)).unwrap();
    let done = listing["catalog"]["backups"].as_array().unwrap().iter();
    let done = done.filter(|b| b["status"] == "DONE").count();
    assert!(done >= 2, "the new backup is in the catalog: {listing:#}");

    // A wrong S3 key: bad input (exit 2) naming the Secret, the key itself never printed.
    let wrong = "wrong-Planted-S3-secret-5e1f";
    let secret = kube
        .get("Secret", "databases", "synestra-io-backup-s3")
        .unwrap();
    let patch = serde_json::json!({"data": {"ACCESS_SECRET_KEY":
        base64::engine::general_purpose::STANDARD.encode(wrong)}});
    let api = kube.api("Secret", "databases");
    kube.block_on(api.patch(
        "synestra-io-backup-s3",
        &Default::default(),
        &kube::api::Patch::Merge(patch),
    ))
    .unwrap();
    let ran = backups(&kube, &w);
    ran.code(2);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        all.contains("synestra-io-backup-s3"),
        "names the Secret: {all}"
    );
    assert!(
        !all.contains(wrong),
        "the wrong key is still a secret: {all}"
    );
    let real = secret["data"]["ACCESS_SECRET_KEY"].as_str().unwrap();
    let real = base64::engine::general_purpose::STANDARD
        .decode(real)
        .unwrap();
    assert!(!all.contains(std::str::from_utf8(&real).unwrap()));
}
