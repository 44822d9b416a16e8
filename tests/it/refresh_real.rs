//! `cnpgops refresh-dev` against the real CloudNativePG operator (1.30.0 in the sandbox, its
//! instances PostgreSQL 15 in their own Pods): TLS verified end to end — cnpgops's own
//! connections and the Job's, `verify-full` against `<cluster>-rw.<ns>.svc` with the CA of the
//! operator's `<cluster>-ca` Secret, no `--insecure-no-tls` — and dev ends equal to prod by the
//! independent fingerprint.
use crate::fingerprint::{self as fp, assert_same};
use crate::harness::World;
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::sandbox::{replicas, Kube};

#[test]
fn refresh_dev_with_the_real_operator_verifies_tls_and_copies_prod() {
    let (w, kube) = (World::new(), Kube::start());
    let dbs = ["databases", "databases"];
    rw::world_with(&kube, "shop", 2_000, dbs, rw::TLS_ONLY);
    // The oracle that TLS is used: through a port-forward, plain text is refused, TLS passes.
    let (plain, tls) = through_port_forward(&w, &kube, "shop-cnpg-1");
    assert!(
        plain.contains("no encryption") || plain.contains("rejects connection"),
        "plain text refused: {plain}"
    );
    assert!(tls.ends_with("t"), "TLS accepted: {tls}");
    // The operator's own certificates: the product gets nothing else to trust.
    let prod = kube.get("Cluster", "databases", "shop-cnpg").unwrap();
    assert_eq!(
        prod["status"]["certificates"]["serverCASecret"],
        "shop-cnpg-ca"
    );
    let prod_before = fp::of(&kube, "shop-cnpg", "shop", PROD_PASSWORD);
    let dev_before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_ne!(prod_before, dev_before, "dev starts different");

    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    ran.code(0);

    let prod_after = fp::of(&kube, "shop-cnpg", "shop", PROD_PASSWORD);
    let dev = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(
        ("prod before", &prod_before),
        ("prod", &prod_after),
        "prod unchanged",
    );
    assert_same(("prod", &prod_after), ("dev", &dev), "dev equals prod");
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2, "the app is back");

    // The Job connected with verify-full to the Services' names, trusting only ca.crt.
    let jobs = kube.list("Job", "databases", "cnpgops.io/step");
    assert!(!jobs.is_empty(), "the refresh ran a Job");
    for job in &jobs {
        let spec = job["spec"]["template"]["spec"].to_string();
        assert!(spec.contains("verify-full"), "{spec}");
        assert!(!spec.contains("ca.key"), "{spec}");
    }
}

/// psql through `kubectl port-forward` to `pod`: (plain text's error, TLS's `ssl` answer).
fn through_port_forward(w: &World, kube: &Kube, pod: &str) -> (String, String) {
    use std::io::BufRead;
    let mut fwd = w.program("kubectl");
    fwd.arg("--kubeconfig")
        .arg(&kube.kubeconfig)
        .args([
            "-n",
            "databases",
            "port-forward",
            &format!("pod/{pod}"),
            ":5432",
        ])
        .stdout(std::process::Stdio::piped());
    let mut child = fwd.spawn().expect("kubectl port-forward");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // kubectl writes on ("Handling connection ..."): a closed pipe would kill it.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    // "Forwarding from 127.0.0.1:PORT -> 5432"
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
        .to_string();
    let psql = |sslmode: &str| {
        let out = w
            .program("psql")
            .env("PGPASSWORD", PROD_PASSWORD)
            .arg(format!(
                "host=127.0.0.1 port={port} user=shop dbname=shop sslmode={sslmode}"
            ))
            .args([
                "-XAtc",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    };
    let answers = (psql("disable"), psql("require"));
    let _ = child.kill();
    let _ = child.wait();
    answers
}
