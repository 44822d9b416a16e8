//! `cnpgops backups` and `cnpgops backup` against the sandbox: real PostgreSQL 15 archiving WAL
//! and taking base backups with real barman-cloud into the S3 server (moto, SigV4 enforced),
//! in both store forms; failed and incomplete backups planted beside them; wrong keys and
//! clusters without a store refused as bad input.

use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use base64::Engine;
use serde_json::Value;

use crate::harness::World;
use crate::refresh_world::{address, connect, wait_healthy};
use crate::sandbox::Kube;

mod bench;

pub(crate) const NS: &str = "databases";
const FAILED_INFO: &str = include_str!("../../src/backup_catalog/backup_info/failed.info");

/// The S3 server with bucket `backups`, and Secret `s3-creds` in `databases` holding its keys.
pub(crate) struct Store {
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
    client: aws_sdk_s3::Client,
}

pub(crate) fn store(kube: &Kube) -> Store {
    let info = kube.s3();
    let creds = Credentials::new(
        &info.keys.access_key_id,
        &info.keys.secret_access_key,
        None,
        None,
        "test",
    );
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&info.endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    kube.block_on(client.create_bucket().bucket("backups").send())
        .expect("bucket");
    kube.create(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s3-creds, namespace: {NS}}}\nstringData: {{ACCESS_KEY_ID: {}, ACCESS_SECRET_KEY: {}}}\n",
        info.keys.access_key_id, info.keys.secret_access_key
    ));
    Store {
        endpoint: info.endpoint,
        key_id: info.keys.access_key_id,
        secret: info.keys.secret_access_key,
        client,
    }
}

impl Store {
    /// Deletes every object under `prefix` in the bucket (breaks an archive on purpose).
    pub(crate) fn delete_prefix(&self, kube: &Kube, prefix: &str) -> usize {
        let list = self
            .client
            .list_objects_v2()
            .bucket("backups")
            .prefix(prefix);
        let listed = kube.block_on(list.send()).expect("list");
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect();
        for key in &keys {
            let del = self.client.delete_object().bucket("backups").key(key);
            kube.block_on(del.send()).expect("delete");
        }
        keys.len()
    }

    pub(crate) fn put(&self, kube: &Kube, key: &str, body: &str) {
        let put = self
            .client
            .put_object()
            .bucket("backups")
            .key(key)
            .body(body.as_bytes().to_vec().into());
        kube.block_on(put.send()).expect("put");
    }
}

/// A `BarmanObjectStoreConfiguration` as flow YAML, keys from `secret`.
/// An `ObjectStore` (barman-cloud plugin) named `name` in [`NS`] on the sandbox's S3 under
/// `prefix`, with the credentials Secret `s3-creds`.
pub(crate) fn object_store(kube: &Kube, name: &str, endpoint: &str, prefix: &str) {
    let cfg = store_config(endpoint, prefix, "s3-creds");
    kube.create(&format!(
        "apiVersion: barmancloud.cnpg.io/v1\nkind: ObjectStore\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  configuration: {cfg}\n"
    ));
}

pub(crate) fn store_config(endpoint: &str, prefix: &str, secret: &str) -> String {
    format!(
        "{{destinationPath: 's3://backups/{prefix}', endpointURL: '{endpoint}', s3Credentials: {{accessKeyId: {{name: {secret}, key: ACCESS_KEY_ID}}, secretAccessKey: {{name: {secret}, key: ACCESS_SECRET_KEY}}}}, wal: {{compression: gzip}}, data: {{immediateCheckpoint: true}}}}"
    )
}

pub(crate) fn cluster(kube: &Kube, name: &str, extra: &str) {
    kube.create(&format!(
        "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  instances: 1\n  imageName: ghcr.io/cloudnative-pg/postgresql:15\n  enableSuperuserAccess: true\n  storage: {{size: 1Gi}}\n{extra}"
    ));
}

/// Waits until the Cluster reports WAL archiving working.
pub(crate) fn wait_archiving(kube: &Kube, name: &str) {
    wait_healthy(kube, name);
    let t0 = Instant::now();
    loop {
        let c = kube.get("Cluster", NS, name).unwrap();
        let ok = c["status"]["conditions"].as_array().is_some_and(|l| {
            l.iter()
                .any(|x| x["type"] == "ContinuousArchiving" && x["status"] == "True")
        });
        if ok {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no archiving: {c:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `cnpgops ARGS` with this world's `backup.info` cache directory.
fn cnpgops(kube: &Kube, w: &World, args: &[&str]) -> crate::harness::Ran {
    let mut cmd = kube.cmd(w, args);
    cmd.env("CNPGOPS_CACHE_DIR", w.path("cache"));
    w.run_with(cmd)
}

fn backups_json(kube: &Kube, w: &World, args: &[&str]) -> Value {
    let ran = cnpgops(kube, w, &[&["backups", "-o", "json"], args].concat());
    ran.code(0);
    serde_json::from_str(&ran.stdout).expect("json")
}

fn statuses(listing: &Value) -> Vec<(String, String)> {
    listing["catalog"]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap().into(),
                b["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Forces `n` WAL switches (with a write before each) and waits until all are archived.
pub(crate) fn switch_wal(kube: &Kube, cluster: &str, n: usize) {
    let secret = kube
        .get("Secret", NS, &format!("{cluster}-superuser"))
        .unwrap();
    let password = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["password"].as_str().unwrap())
        .unwrap();
    let password = String::from_utf8(password).unwrap();
    let addr = address(kube, cluster);
    kube.block_on(async {
        let c = connect(&addr, "postgres", &password).await;
        let mut last = String::new();
        for i in 0..n {
            c.batch_execute(&format!("create table switch_{i} (i int)"))
                .await
                .unwrap();
            let row = c
                .query_one("select pg_walfile_name(pg_switch_wal())", &[])
                .await
                .unwrap();
            last = row.get(0);
        }
        let t0 = Instant::now();
        loop {
            let row = c
                .query_one(
                    "select coalesce(last_archived_wal, '') from pg_stat_archiver",
                    &[],
                )
                .await
                .unwrap();
            let archived: String = row.get(0);
            if archived >= last {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{last} never archived ({archived})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

fn last_wal(listing: &Value) -> String {
    listing["catalog"]["archive"]["timelines"][0]["last"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn in_tree_store_lists_real_backups_and_costs_the_same_with_more_wal() {
    let (kube, w) = (Kube::start(), World::new());
    kube.namespace(NS);
    let s3 = store(&kube);
    let cfg = store_config(&s3.endpoint, "cnpg", "s3-creds");
    cluster(
        &kube,
        "shop-cnpg",
        &format!("  backup:\n    barmanObjectStore: {cfg}\n"),
    );
    wait_archiving(&kube, "shop-cnpg");

    let empty = backups_json(&kube, &w, &["shop"]);
    assert!(empty["catalog"]["window"].is_null(), "no backup, no window");

    for _ in 0..2 {
        let ran = cnpgops(&kube, &w, &["backup", "shop", "--wait"]);
        ran.code(0);
        assert!(ran.stdout.contains("completed: backup "), "{}", ran.stdout);
        assert!(ran.stderr.contains("phase completed"), "{}", ran.stderr);
    }
    let made = kube.list("Backup", NS, "cnpg.io/cluster=shop-cnpg");
    assert_eq!(made.len(), 2);
    assert!(made
        .iter()
        .all(|b| b["spec"]["method"] == "barmanObjectStore"));

    // A failed backup newer than both, and an older directory without backup.info.
    s3.put(
        &kube,
        "cnpg/shop-cnpg/base/20991231T000000/backup.info",
        FAILED_INFO,
    );
    s3.put(&kube, "cnpg/shop-cnpg/base/20000101T000000/data.tar", "x");
    let listing = backups_json(&kube, &w, &["shop"]);
    let st = statuses(&listing);
    assert_eq!(st.len(), 4, "{st:?}");
    assert_eq!(st[0], ("20000101T000000".into(), "NO_INFO".into()));
    assert_eq!(st[3], ("20991231T000000".into(), "FAILED".into()));
    assert!(st[1].1 == "DONE" && st[2].1 == "DONE", "{st:?}");
    let window = &listing["catalog"]["window"];
    assert_eq!(window["first_backup"], st[1].0.as_str(), "{window}");
    assert_eq!(
        window["last_backup"],
        st[2].0.as_str(),
        "the failed one is never chosen"
    );
    assert!(
        window["earliest"].as_str() < window["latest"].as_str(),
        "{window}"
    );
    assert_eq!(listing["store"]["form"], "inTree");
    assert_eq!(listing["cnpg"]["backups"].as_array().unwrap().len(), 2);

    let cold = listing["catalog"]["requests"].as_u64().unwrap();
    assert_eq!(
        cold, 7,
        "base list + 3 backup.info + wals list + first and last dir"
    );
    let wal_before = last_wal(&listing);
    switch_wal(&kube, "shop-cnpg", 4);
    let after = backups_json(&kube, &w, &["shop", "--no-cache"]);
    assert!(
        last_wal(&after) > wal_before,
        "{} > {wal_before}",
        last_wal(&after)
    );
    assert_eq!(
        after["catalog"]["requests"].as_u64().unwrap(),
        cold,
        "more WAL, same number of S3 requests"
    );
    assert_eq!(
        after["catalog"]["window"],
        backups_json(&kube, &w, &["shop"])["catalog"]["window"]
    );

    let text = cnpgops(&kube, &w, &["backups", "shop"]);
    text.code(0);
    let mut settings = w.settings();
    settings.add_filter(r"\b\d+\.\d+\.\d+\.\d+:\d+", "[S3_ADDRESS]");
    settings.add_filter(r"\b(19|20)\d{6}T\d{6}\b", "[BACKUP_ID]");
    settings.add_filter(r"backup-\d{14}", "backup-[STAMP]");
    settings.add_filter(r"shop-cnpg-\d{14}", "shop-cnpg-[STAMP]");
    settings.add_filter(r"\b[0-9A-F]{24}\b", "[WAL]");
    settings.add_filter(r"\d+\.\d (KiB|MiB|GiB)", "[SIZE]");
    settings.bind(|| insta::assert_snapshot!("backups_in_tree", text.stdout));
    assert!(!text.stdout.contains(&s3.secret) && !text.stderr.contains(&s3.secret));
}

#[test]
fn plugin_store_lists_real_backups_and_the_object_store_view() {
    let (kube, w) = (Kube::start(), World::new());
    kube.namespace(NS);
    let s3 = store(&kube);
    object_store(&kube, "store", &s3.endpoint, "plug");
    let plugin = "  plugins:\n  - {name: barman-cloud.cloudnative-pg.io, isWALArchiver: true, parameters: {barmanObjectName: store, serverName: web-a}}\n";
    cluster(&kube, "web-cnpg", plugin);
    wait_healthy(&kube, "web-cnpg");

    let ran = kube.run(&w, &["backup", "web", "--wait", "-o", "json"]);
    ran.code(0);
    let made = kube.list("Backup", NS, "cnpg.io/cluster=web-cnpg");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0]["spec"]["method"], "plugin");
    assert_eq!(
        made[0]["spec"]["pluginConfiguration"]["name"],
        "barman-cloud.cloudnative-pg.io"
    );
    let id = made[0]["status"]["backupId"].as_str().unwrap();

    let listing = backups_json(&kube, &w, &["web"]);
    assert_eq!(listing["store"]["form"], "plugin");
    assert_eq!(listing["store"]["objectStore"], "store");
    assert_eq!(listing["catalog"]["url"], "s3://backups/plug/web-a");
    assert_eq!(
        statuses(&listing),
        vec![(id.to_string(), "DONE".to_string())]
    );
    assert_eq!(listing["catalog"]["window"]["first_backup"], id);
    assert!(listing["cnpg"]["source"]
        .as_str()
        .unwrap()
        .starts_with("ObjectStore store"));
    let _ = s3.key_id;
}

#[test]
fn wrong_keys_and_missing_stores_are_bad_input_without_secrets() {
    let (kube, w) = (Kube::start(), World::new());
    kube.namespace(NS);
    let s3 = store(&kube);
    let wrong = "wrong-Secret-Value-8c1e77";
    kube.create(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: bad-creds, namespace: {NS}}}\nstringData: {{ACCESS_KEY_ID: {}, ACCESS_SECRET_KEY: {wrong}}}\n",
        s3.key_id
    ));
    let bad = store_config(&s3.endpoint, "cnpg", "bad-creds");
    cluster(
        &kube,
        "badkey-cnpg",
        &format!("  backup:\n    barmanObjectStore: {bad}\n"),
    );
    cluster(&kube, "plain-cnpg", "");
    let plugin = "  plugins:\n  - {name: barman-cloud.cloudnative-pg.io, isWALArchiver: true, parameters: {barmanObjectName: missing}}\n";
    cluster(&kube, "nostore-cnpg", plugin);

    let ran = kube.run(&w, &["backups", "badkey"]);
    ran.code(2);
    for needle in [
        "Secret databases/bad-creds",
        "SignatureDoesNotMatch",
        s3.endpoint.as_str(),
    ] {
        assert!(ran.stderr.contains(needle), "{needle}: {}", ran.stderr);
    }
    for secret in [wrong, s3.secret.as_str(), s3.key_id.as_str()] {
        assert!(
            !ran.stderr.contains(secret) && !ran.stdout.contains(secret),
            "{}",
            ran.stderr
        );
    }

    let ran = kube.run(&w, &["backups", "plain"]);
    ran.code(2);
    assert!(
        ran.stderr
            .contains("Cluster databases/plain-cnpg has no backup configuration"),
        "{}",
        ran.stderr
    );
    let ran = kube.run(&w, &["backup", "plain", "--wait"]);
    ran.code(2);
    assert!(kube.list("Backup", NS, "").is_empty(), "nothing created");

    let ran = kube.run(&w, &["backups", "nostore"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("ObjectStore databases/missing"),
        "{}",
        ran.stderr
    );
    let ran = kube.run(&w, &["backups", "ghost"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("Cluster databases/ghost-cnpg"),
        "{}",
        ran.stderr
    );
}
