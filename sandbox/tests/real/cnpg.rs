//! The real CloudNativePG operator (1.30.0) in the sandbox: installed from its release manifest,
//! its Pods run by the node agent each in its own network namespace, PostgreSQL 15 with the
//! operator's own certificates. Checked with the real kubectl and psql, not with the sandbox's
//! or the product's code.
use std::process::Command;
use std::time::{Duration, Instant};

use cnpgops_sandbox::server::{Cnpg, Sandbox};

use super::harness;

pub(super) struct Real {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) sandbox: Option<Sandbox>,
    pub(super) dir: tempfile::TempDir,
}

impl Real {
    pub(super) fn start() -> Real {
        let (rt, dir) = harness::fresh();
        let world = cnpgops_sandbox::world::World::new(dir.path()).unwrap();
        let sandbox = rt
            .block_on(Sandbox::start_with_cnpg(dir.path(), world, Cnpg::Real))
            .expect("the sandbox starts with the real operator");
        Real {
            rt,
            sandbox: Some(sandbox),
            dir,
        }
    }

    pub(super) fn kubectl(&self, args: &[&str]) -> std::process::Output {
        harness::kubectl(&self.dir.path().join("kubeconfig"), self.dir.path(), args)
    }

    pub(super) fn ok(&self, args: &[&str]) -> String {
        harness::ok(self.kubectl(args), args)
    }

    pub(super) fn apply(&self, yaml: &str) -> std::process::Output {
        let file = self.dir.path().join("apply.yaml");
        std::fs::write(&file, yaml).unwrap();
        self.kubectl(&["apply", "-f", file.to_str().unwrap()])
    }

    /// Applies `yaml`, failing the test with kubectl's stderr if it is refused.
    pub(super) fn apply_ok(&self, yaml: &str) {
        let out = self.apply(yaml);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until `jsonpath` of `what` in `ns` reads `want`.
    pub(super) fn wait_for(&self, ns: &str, what: &str, jsonpath: &str, want: &str, secs: u64) {
        let t0 = Instant::now();
        let mut last = String::new();
        while t0.elapsed() < Duration::from_secs(secs) {
            let out = self.kubectl(&["-n", ns, "get", what, "-o", &format!("jsonpath={jsonpath}")]);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("{ns}/{what} {jsonpath}: wanted {want:?}, still {last:?} after {secs}s");
    }

    pub(super) fn namespace(&self, ns: &str) {
        self.ok(&["create", "namespace", ns]);
        self.wait_for(
            ns,
            "serviceaccount/default",
            "{.metadata.name}",
            "default",
            60,
        );
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.rt.block_on(s.stop());
        }
    }
}

pub(super) fn secret_key(r: &Real, ns: &str, name: &str, key: &str) -> Vec<u8> {
    harness::secret(
        &r.dir.path().join("kubeconfig"),
        r.dir.path(),
        ns,
        name,
        key,
    )
}

fn psql(conninfo: &str, password: &[u8], sql: &str) -> std::process::Output {
    Command::new("psql")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PGPASSWORD", String::from_utf8_lossy(password).as_ref())
        .env("PGCONNECT_TIMEOUT", "10")
        .args([conninfo, "-XAtc", sql])
        .output()
        .expect("psql runs")
}

#[test]
fn the_real_operator_runs_a_healthy_cluster_with_tls_and_its_webhook_validates() {
    let r = Real::start();
    r.namespace("db");
    let cluster = r#"apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: pg, namespace: db}
spec:
  instances: 1
  imageName: ghcr.io/cloudnative-pg/postgresql:15
  storage: {size: 1Gi}
"#;
    let out = r.apply(cluster);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    r.wait_for(
        "db",
        "cluster/pg",
        "{.status.phase}",
        "Cluster in healthy state",
        240,
    );

    // CNPG's own Secrets and the certificates it reports.
    assert!(!secret_key(&r, "db", "pg-ca", "ca.key").is_empty());
    let ca = secret_key(&r, "db", "pg-ca", "ca.crt");
    assert!(String::from_utf8_lossy(&ca).contains("BEGIN CERTIFICATE"));
    assert!(!secret_key(&r, "db", "pg-server", "tls.crt").is_empty());
    let names = r.ok(&[
        "-n",
        "db",
        "get",
        "cluster",
        "pg",
        "-o",
        "jsonpath={.status.certificates.serverAltDNSNames}",
    ]);
    assert!(names.contains("\"pg-rw.db.svc\""), "{names}");

    // psql from the host, verify-full against the -rw Service name, at the primary's Pod IP.
    let ca_file = r.dir.path().join("ca.crt");
    std::fs::write(&ca_file, &ca).unwrap();
    let ip = r.ok(&[
        "-n",
        "db",
        "get",
        "pod",
        "pg-1",
        "-o",
        "jsonpath={.status.podIP}",
    ]);
    let third: u8 = ip
        .split('.')
        .nth(2)
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    assert!(
        ip.starts_with("10.244.") && third >= 128,
        "a Pod address (10.244.128.0/17): {ip}"
    );
    let password = secret_key(&r, "db", "pg-app", "password");
    let conn = |host: &str| {
        format!(
            "sslmode=verify-full sslrootcert={} host={host} hostaddr={ip} user=app dbname=app",
            ca_file.display()
        )
    };
    let out = psql(
        &conn("pg-rw.db.svc"),
        &password,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert!(
        out.status.success(),
        "verify-full: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t");
    // verify-full really checks the name: one the server certificate does not carry fails.
    let out = psql(&conn("pg-elsewhere.db.svc"), &password, "SELECT 1");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match host name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The operator's validating webhook (called by the apiserver at its Service's endpoint)
    // refuses a recovery with two targets, with its own message.
    let bad = cluster.replace("name: pg,", "name: bad,")
        + r#"  bootstrap:
    recovery:
      source: origin
      recoveryTarget:
        targetTime: "2026-01-01 00:00:00+00"
        targetLSN: "0/3000000"
  externalClusters:
  - name: origin
    barmanObjectStore:
      destinationPath: s3://backups/
      s3Credentials:
        inheritFromIAMRole: true
"#;
    let out = r.apply(&bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // The webhook's own words (the CRD's CEL rules say nothing of the kind), and its warning.
    assert!(
        err.contains("Recovery target options are mutually exclusive"),
        "{err}"
    );
    assert!(
        err.contains("Warning: Native support for Barman Cloud"),
        "{err}"
    );
}
