//! The Job manifest: credentials only by reference, read-only source, limits and labels.

use super::*;

#[path = "../../../tests/it/pss_restricted.rs"]
pub(crate) mod pss;

fn spec(mode: RefreshMode) -> Spec {
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
        step: "dump_restore".into(),
        image: "ghcr.io/cloudnative-pg/postgresql:15.10".into(),
        source: t("app-cnpg", "app-initdb"),
        target: t("app-dev-cnpg", "app-dev-cnpg-app"),
        source_ca: None,
        target_ca: Some("app-dev-cnpg-ca".into()),
        pull_secrets: vec!["regcred".into(), "mirror".into(), "regcred".into()],
        resources: Resources::default(),
        source_bytes: 10 << 30,
        jobs: 2,
        mode,
        deadline_secs: 3600,
        snapshot: Some("00000003-0000001B-1".into()),
        mask_sql: Some("UPDATE t SET c = 'x';".into()),
        keep_extension_comments: vec!["pgcrypto".into()],
        dump_storage_class: Some("fast-scratch".into()),
    }
}

#[test]
fn credentials_come_only_from_secret_key_refs() {
    let m = manifest(&spec(RefreshMode::Atomic));
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
    let s = script(&spec(RefreshMode::Atomic));
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
    // Stream: the post-data archive (small, /tmp) dumped in the background while the data
    // streams, waited for (its failure fails the pipe: no COMMIT) before the index builds; one
    // transaction with each section of the same snapshot, markers between whole outputs.
    let st = script(&spec(RefreshMode::Stream));
    let at = |needle: &str| st.find(needle).unwrap_or_else(|| panic!("{needle}: {st}"));
    let order = [
        "--section=post-data --no-owner --no-privileges --file=/tmp/post >/dev/null & post=$!",
        "echo 'BEGIN;'",
        "phase clean",
        "phase schema",
        "--section=pre-data",
        "phase data",
        "--section=data",
        "wait $post; pg_restore --list /tmp/post",
        "--use-list=/tmp/toc.$p --file=- /tmp/post",
        "MASK_SQL:-",
        "phase mask",
        "phase analyze; echo \"$ANALYZE_SQL\"",
        "phase commit",
        "echo \"$ROWS_SQL\"",
        "echo 'COMMIT;'",
    ];
    let found: Vec<usize> = order.iter().map(|n| at(n)).collect();
    assert!(
        found.windows(2).all(|w| w[0] < w[1]),
        "{order:?} in order: {st}"
    );
    assert_eq!(
        st.matches("${SNAPSHOT:+--snapshot=$SNAPSHOT}").count(),
        3,
        "{st}"
    );
    let p = script(&spec(RefreshMode::Parallel));
    assert!(
        p.contains("--jobs=\"$JOBS\" --use-list=/tmp/toc --dbname"),
        "{p}"
    );
}

#[test]
fn comments_on_extensions_the_target_owner_does_not_own_are_left_out() {
    let m = manifest(&spec(RefreshMode::Atomic));
    let env = &m["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "KEEP_EXTENSION_COMMENTS" && e["value"] == "pgcrypto"),
        "{env}"
    );
    for mode in [RefreshMode::Atomic, RefreshMode::Parallel] {
        let s = script(&spec(mode));
        assert!(
            s.contains("pg_restore --list /dump/db | toc_filter > /tmp/toc")
                && s.contains("--use-list=/tmp/toc"),
            "{s}"
        );
    }
    let s = script(&spec(RefreshMode::Stream));
    assert!(s.contains("--no-privileges | sql_filter;"), "{s}");
    assert!(
        s.contains("pg_restore --list /tmp/post | toc_filter > /tmp/toc"),
        "{s}"
    );
}

#[test]
fn the_job_is_bounded_and_labelled() {
    let m = manifest(&spec(RefreshMode::Atomic));
    assert_eq!(m["spec"]["backoffLimit"], 0);
    assert_eq!(m["spec"]["activeDeadlineSeconds"], 3600);
    assert_eq!(m["metadata"]["name"], "cnpgops-refresh-app-dev-cnpg-abcd-1");
    assert_eq!(m["metadata"]["namespace"], "databases");
    let labels = &m["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["cnpgops.io/run-id"], "20260101-000000-abcd");
    assert_eq!(labels["cnpgops.io/step"], "dump_restore");
    assert_eq!(m["spec"]["ttlSecondsAfterFinished"], 86_400);
    assert!(name(&"x".repeat(80), "r-ffff", 12).len() <= 63);
}

#[test]
fn the_pod_passes_pod_security_restricted_in_every_mode() {
    for mode in [
        RefreshMode::Atomic,
        RefreshMode::Stream,
        RefreshMode::Parallel,
    ] {
        let m = manifest(&spec(mode));
        let pod = &m["spec"]["template"]["spec"];
        assert_eq!(pss::violations(pod), Vec::<String>::new(), "{mode:?}");
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["securityContext"]["runAsUser"], 26);
        assert_eq!(pod["securityContext"]["fsGroup"], 26);
        let c = &pod["containers"][0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        for key in ["requests", "limits"] {
            for resource in ["cpu", "memory", "ephemeral-storage"] {
                assert!(
                    c["resources"][key][resource].is_string(),
                    "{key}.{resource}: {c}"
                );
            }
        }
        assert_eq!(
            pod["imagePullSecrets"],
            serde_json::json!([{"name": "regcred"}, {"name": "mirror"}])
        );
    }
}

#[test]
fn every_writable_path_is_size_limited_and_the_dump_has_a_volume_of_its_own() {
    let m = manifest(&spec(RefreshMode::Atomic));
    let pod = &m["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_array().unwrap();
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    let path_of = |name: &str| {
        mounts.iter().find(|m| m["name"] == name).unwrap()["mountPath"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut writable: Vec<String> = Vec::new();
    for v in volumes {
        let name = v["name"].as_str().unwrap();
        if v.get("emptyDir").is_some() {
            assert!(v["emptyDir"]["sizeLimit"].is_string(), "no sizeLimit: {v}");
            writable.push(path_of(name));
        }
        if let Some(claim) = v.pointer("/ephemeral/volumeClaimTemplate/spec") {
            assert!(claim["resources"]["requests"]["storage"].is_string(), "{v}");
            writable.push(path_of(name));
        }
    }
    writable.sort();
    assert_eq!(writable, ["/dump", "/tmp"]);
    assert_eq!(
        mounts.last().unwrap()["mountPath"],
        "/tmp",
        "/tmp is mounted last (the sandbox's node agent keeps Pod directories under /tmp)"
    );
    let dump = volumes.iter().find(|v| v["name"] == "dump").unwrap();
    let claim = &dump["ephemeral"]["volumeClaimTemplate"];
    assert_eq!(
        claim["spec"]["resources"]["requests"]["storage"], "13Gi",
        "10 GiB source + a quarter"
    );
    assert_eq!(claim["spec"]["storageClassName"], "fast-scratch");
    assert_eq!(
        claim["metadata"]["labels"]["cnpgops.io/step"],
        "dump_restore"
    );
    let resources = &pod["containers"][0]["resources"];
    assert_eq!(
        resources["limits"]["ephemeral-storage"], "256Mi",
        "the node's ephemeral storage holds /tmp only"
    );
    let s = script(&spec(RefreshMode::Atomic));
    for written in s
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--file="))
    {
        assert!(
            written == "-" || written.starts_with("/dump/"),
            "writes outside an emptyDir: {written}"
        );
    }
    let stream = manifest(&spec(RefreshMode::Stream));
    let vols = stream["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(
        !vols.contains("\"dump\""),
        "stream mode needs no dump: {vols}"
    );
}

#[test]
fn no_volume_exposes_a_ca_key_and_tls_is_verified_against_the_service_name() {
    let mut both = spec(RefreshMode::Atomic);
    both.source_ca = Some("corp-server-ca".into());
    let m = manifest(&both);
    let pod = &m["spec"]["template"]["spec"];
    let secrets: Vec<&Value> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v.get("secret").is_some())
        .collect();
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    for v in &secrets {
        let items = v["secret"]["items"]
            .as_array()
            .expect("items: only chosen keys");
        let keys: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["ca.crt"], "{v}");
    }
    assert!(!m.to_string().contains("ca.key"));
    assert!(m.to_string().contains("\"corp-server-ca\""));
    let env = pod["containers"][0]["env"].as_array().unwrap();
    let value = |name: &str| {
        env.iter().find(|e| e["name"] == name).unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for side in ["SRC", "DST"] {
        assert_eq!(value(&format!("{side}_SSLMODE")), "verify-full");
    }
    assert_eq!(value("SRC_HOST"), "app-cnpg-rw.databases.svc");
    assert_eq!(value("DST_HOST"), "app-dev-cnpg-rw.databases.svc");
    let s = script(&both);
    assert!(s.contains("PGSSLROOTCERT=/tls/source/ca.crt"), "{s}");
    assert!(s.contains("PGSSLROOTCERT=/tls/target/ca.crt"), "{s}");
}

#[test]
fn without_a_ca_only_the_explicit_opt_out_connects_unverified() {
    // `source_ca: None` is what `--insecure-no-tls` leads to: the mode says so in the Pod.
    let m = manifest(&spec(RefreshMode::Atomic));
    let env = m["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(
        env.contains("\"SRC_SSLMODE\",\"value\":\"prefer\""),
        "{env}"
    );
    assert!(
        env.contains("\"DST_SSLMODE\",\"value\":\"verify-full\""),
        "{env}"
    );
}

#[test]
fn the_kubelet_passes_the_script_and_every_value_through_as_written() {
    // The kubelet reads `$$` as `$` and `$(VAR)` as VAR's value in a container's command and
    // env values: each `$` is doubled, so the script's `DO $$BEGIN` reaches bash as written.
    let mut s = spec(RefreshMode::Stream);
    s.mask_sql = Some("UPDATE t SET v = $x$secret$x$".into());
    s.target.database = "app$(HOME)".into();
    let m = manifest(&s);
    let c = &m["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"][2], script(&s).replace('$', "$$"));
    assert!(script(&s).contains("DO $$BEGIN"));
    let value = |name: &str| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(value("MASK_SQL"), "UPDATE t SET v = $$x$$secret$$x$$");
    assert_eq!(value("DST_DB"), "app$$(HOME)");
    assert_eq!(
        value("ROWS_SQL"),
        super::super::copied::ROWS_SQL.replace('$', "$$")
    );
}
