//! The Job manifest: credentials only by reference, read-only source, limits and labels.

use super::*;

fn spec(mode: Mode) -> Spec {
    let t = |cluster: &str, secret: &str| Target {
        namespace: "databases".into(),
        cluster: cluster.into(),
        pod: format!("{cluster}-1"),
        database: "app".into(),
        secret: secret.into(),
    };
    Spec {
        name: name("app-dev-cnpg", "20260101-000000-abcd", 1),
        run_id: "20260101-000000-abcd".into(),
        step: "restore".into(),
        image: "ghcr.io/cloudnative-pg/postgresql:15.10".into(),
        source: t("app-cnpg", "app-initdb"),
        target: t("app-dev-cnpg", "app-dev-cnpg-app"),
        source_ca: None,
        target_ca: Some("app-dev-cnpg-ca".into()),
        jobs: 2,
        mode,
        deadline_secs: 3600,
        snapshot: Some("00000003-0000001B-1".into()),
        mask_sql: Some("UPDATE t SET c = 'x';".into()),
    }
}

#[test]
fn credentials_come_only_from_secret_key_refs() {
    let m = manifest(&spec(Mode::Atomic));
    let c = &m["spec"]["template"]["spec"]["containers"][0];
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        if name.ends_with("_USER") || name.ends_with("_PASSWORD") {
            assert!(e.get("value").is_none(), "{e}");
            assert!(e["valueFrom"]["secretKeyRef"]["key"].is_string(), "{e}");
        }
    }
    let text = m.to_string();
    assert!(text.contains("\"app-initdb\"") && text.contains("\"app-dev-cnpg-app\""));
    assert!(
        !c["command"][2].as_str().unwrap().contains("$("),
        "no $(VAR) expansion surprises"
    );
}

#[test]
fn the_source_is_read_only_and_the_dump_comes_first() {
    let s = script(&spec(Mode::Atomic));
    assert!(s.contains("PGOPTIONS='-c default_transaction_read_only=on'"));
    let dump = s.find("src pg_dump").unwrap();
    let restore = s.find("dst psql").unwrap();
    assert!(dump < restore);
    assert!(
        s.contains("echo 'BEGIN;'") && s.contains("echo 'COMMIT;'"),
        "{s}"
    );
    assert!(s.contains("--no-owner --no-privileges"));
    assert!(
        s.contains("PGSSLROOTCERT=/tls/target/ca.crt"),
        "TLS verified with the CA: {s}"
    );
    assert!(s.contains("${SNAPSHOT:+--snapshot=$SNAPSHOT}"), "{s}");
    let mask = s.find("MASK_SQL").unwrap();
    assert!(
        s.find("pg_restore").unwrap() < mask && mask < s.find("COMMIT").unwrap(),
        "masking inside the transaction: {s}"
    );
    let p = script(&spec(Mode::Parallel));
    assert!(p.contains("--jobs=\"$JOBS\" --dbname"), "{p}");
}

#[test]
fn the_job_is_bounded_and_labelled() {
    let m = manifest(&spec(Mode::Atomic));
    assert_eq!(m["spec"]["backoffLimit"], 0);
    assert_eq!(m["spec"]["activeDeadlineSeconds"], 3600);
    assert_eq!(m["metadata"]["name"], "cnpgops-refresh-app-dev-cnpg-abcd-1");
    assert_eq!(m["metadata"]["namespace"], "databases");
    let labels = &m["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["cnpgops.io/run-id"], "20260101-000000-abcd");
    assert_eq!(labels["cnpgops.io/step"], "restore");
    let volumes = m["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 2, "dump + target CA: {volumes:?}");
    assert!(name(&"x".repeat(80), "r-ffff", 12).len() <= 63);
}
