//! The barman-cloud plugin v0.14.0 with the real CloudNativePG operator: a Cluster that names
//! it as its WAL archiver gets the plugin's sidecar (injected by the operator through the
//! plugin's lifecycle hook), archives WAL into S3 (moto), takes a `method: plugin` Backup, and a
//! second Cluster recovers from that backup and the archive through the plugin. Checked with
//! kubectl, psql (through `kubectl exec`) and boto3 listing the bucket, not with the sandbox's
//! code.
use std::process::Command;
use std::time::{Duration, Instant};

use super::cnpg::Real;

const PLUGIN: &str = "barman-cloud.cloudnative-pg.io";

/// boto3 (the barman-cloud venv's) against `endpoint`: runs `script` with `s3` a client.
fn boto3(endpoint: &str, id: &str, secret: &str, script: &str) -> String {
    let venv = std::env::var("CNPGOPS_BARMAN_VENV").unwrap_or("/opt/cnpgops/venv-barman".into());
    let out = Command::new(format!("{venv}/bin/python"))
        .env("ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .args([
            "-c",
            &format!(
                "import boto3, os\ns3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'])\n{script}"
            ),
        ])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const LIST: &str = "p = s3.get_paginator('list_objects_v2')\nfor page in p.paginate(Bucket='backups'):\n    for o in page.get('Contents', []):\n        print(o['Key'])";

/// SQL as the superuser in `pod`'s postgres container (its local socket), through kubectl exec.
fn sql(r: &Real, pod: &str, query: &str) -> String {
    r.ok(&[
        "-n", "db", "exec", pod, "-c", "postgres", "--", "psql", "-XAtc", query, "app",
    ])
    .trim()
    .to_string()
}

fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> Option<String>) -> String {
    let t0 = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what} not within {secs}s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn cluster(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {{name: {name}, namespace: db}}
spec:
  instances: 1
  imageName: ghcr.io/cloudnative-pg/postgresql:15
  storage: {{size: 1Gi}}
{extra}"
    )
}

#[test]
fn the_barman_cloud_plugin_archives_backs_up_and_recovers_with_the_real_operator() {
    let t0 = Instant::now();
    let r = Real::start();
    eprintln!(
        "sandbox with CloudNativePG and the plugin: {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    // The plugin's Service as CloudNativePG discovers it, and its Pod running the built binary.
    let svc = r.ok(&[
        "-n",
        "cnpg-system",
        "get",
        "service",
        "barman-cloud",
        "-o",
        "jsonpath={.metadata.labels.cnpg\\.io/pluginName}",
    ]);
    assert_eq!(svc, PLUGIN);

    let s3 =
        r.rt.block_on(r.sandbox.as_ref().unwrap().world.s3())
            .expect("S3 starts");
    let (id, secret) = (&s3.keys.access_key_id, &s3.keys.secret_access_key);
    boto3(
        &s3.endpoint,
        id,
        secret,
        "s3.create_bucket(Bucket='backups')",
    );

    r.namespace("db");
    let objects = format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: s3-creds, namespace: db}}
stringData: {{ACCESS_KEY_ID: '{id}', ACCESS_SECRET_KEY: '{secret}'}}
---
apiVersion: barmancloud.cnpg.io/v1
kind: ObjectStore
metadata: {{name: store, namespace: db}}
spec:
  configuration:
    destinationPath: s3://backups/
    endpointURL: '{endpoint}'
    s3Credentials:
      accessKeyId: {{name: s3-creds, key: ACCESS_KEY_ID}}
      secretAccessKey: {{name: s3-creds, key: ACCESS_SECRET_KEY}}
    wal: {{compression: gzip}}
    data: {{immediateCheckpoint: true}}
---
{cluster}",
        endpoint = s3.endpoint,
        cluster = cluster(
            "pg",
            &format!(
                "  plugins:\n  - name: {PLUGIN}\n    isWALArchiver: true\n    parameters: {{barmanObjectName: store}}\n"
            )
        ),
    );
    r.apply_ok(&objects);
    let t1 = Instant::now();
    r.wait_for(
        "db",
        "cluster/pg",
        "{.status.phase}",
        "Cluster in healthy state",
        300,
    );
    eprintln!(
        "plugin Cluster healthy in {:.1}s",
        t1.elapsed().as_secs_f64()
    );
    // The operator injected the plugin's sidecar (a native sidecar: an init container that
    // keeps running) through the plugin's lifecycle hook.
    let sidecar = r.ok(&[
        "-n",
        "db",
        "get",
        "pod",
        "pg-1",
        "-o",
        "jsonpath={.spec.initContainers[?(@.name==\"plugin-barman-cloud\")].restartPolicy}",
    ]);
    assert_eq!(sidecar, "Always");
    r.wait_for(
        "db",
        "cluster/pg",
        "{.status.conditions[?(@.type==\"ContinuousArchiving\")].status}",
        "True",
        120,
    );

    sql(
        &r,
        "pg-1",
        "CREATE TABLE marks (n int); INSERT INTO marks VALUES (1)",
    );
    let backup = format!(
        "apiVersion: postgresql.cnpg.io/v1
kind: Backup
metadata: {{name: first, namespace: db}}
spec:
  cluster: {{name: pg}}
  method: plugin
  pluginConfiguration: {{name: {PLUGIN}}}
"
    );
    let t2 = Instant::now();
    r.apply_ok(&backup);
    r.wait_for("db", "backup/first", "{.status.phase}", "completed", 240);
    eprintln!(
        "method: plugin Backup completed in {:.1}s",
        t2.elapsed().as_secs_f64()
    );
    let backup_id = r.ok(&[
        "-n",
        "db",
        "get",
        "backup",
        "first",
        "-o",
        "jsonpath={.status.backupId}",
    ]);
    assert!(!backup_id.is_empty());

    // A row after the backup, its WAL segment closed: it reaches the archive too.
    sql(&r, "pg-1", "INSERT INTO marks VALUES (2)");
    let segment = sql(&r, "pg-1", "SELECT pg_walfile_name(pg_switch_wal())");
    let wal_key = format!("pg/wals/{}/{segment}.gz", &segment[..16]);
    let keys = wait_until(&format!("{wal_key} in the bucket"), 120, || {
        let keys = boto3(&s3.endpoint, id, secret, LIST);
        keys.lines().any(|k| k == wal_key).then_some(keys)
    });
    // The base backup: barman-cloud's backup.info and data tarball under the backup's id.
    let base = format!("pg/base/{backup_id}/");
    assert!(
        keys.lines().any(|k| k == format!("{base}backup.info")),
        "{keys}"
    );
    assert!(
        keys.lines()
            .any(|k| k.starts_with(&format!("{base}data.tar"))),
        "{keys}"
    );

    // Recovery through the plugin: the backup and then the archived WAL (row 2).
    let recovered = cluster(
        "pg2",
        &format!(
            "  bootstrap:\n    recovery: {{source: origin}}\n  externalClusters:\n  - name: origin\n    plugin:\n      name: {PLUGIN}\n      parameters: {{barmanObjectName: store, serverName: pg}}\n"
        ),
    );
    let t3 = Instant::now();
    r.apply_ok(&recovered);
    r.wait_for(
        "db",
        "cluster/pg2",
        "{.status.phase}",
        "Cluster in healthy state",
        300,
    );
    eprintln!(
        "recovered Cluster healthy in {:.1}s",
        t3.elapsed().as_secs_f64()
    );
    assert_eq!(
        sql(
            &r,
            "pg2-1",
            "SELECT string_agg(n::text, ',' ORDER BY n) FROM marks"
        ),
        "1,2"
    );
}
