//! The scenarios on the real CloudNativePG operator, through the sandbox's command line
//! (`cnpgops-sandbox up --cnpg real --scenario FILE`): seed 000's synestra world and seed 003's
//! shared cluster keep their meaning — Clusters healthy with the operator's own certificates,
//! the data of `postInitApplicationSQL` owned by the application's owner, a real barman-cloud
//! backup in S3, CNPG's Database and managed roles, the Argo CD Applications as the seeds
//! describe them — checked with kubectl and psql (verify-full), not with the sandbox's code.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness;

/// `cnpgops-sandbox up` with the real operator, stopped (SIGTERM) when dropped.
struct Up {
    child: Child,
    dir: tempfile::TempDir,
    took: Duration,
}

impl Up {
    fn start(scenario: &str) -> Up {
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(scenario);
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
        let t0 = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_cnpgops-sandbox"))
            .args(["up", "--cnpg", "real", "--ready-timeout", "300", "--dir"])
            .arg(dir.path())
            .arg("--scenario")
            .arg(&scenario)
            .env_remove("CNPGOPS_SANDBOX_CNPG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut up = Up {
            child,
            dir,
            took: Duration::ZERO,
        };
        while !up.dir.path().join("ready").exists() {
            if let Some(status) = up.child.try_wait().unwrap() {
                panic!("the sandbox exited ({status}) before ready:\n{}", up.log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(480),
                "not ready in 480 s:\n{}",
                up.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        up.took = t0.elapsed();
        eprintln!(
            "{} ready with the real operator in {:.1}s",
            scenario.display(),
            up.took.as_secs_f64()
        );
        up
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default()
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn ok(&self, args: &[&str]) -> String {
        harness::ok(
            harness::kubectl(&self.kubeconfig(), self.dir.path(), args),
            args,
        )
    }

    fn get(&self, ns: &str, what: &str, jsonpath: &str) -> String {
        self.ok(&["-n", ns, "get", what, "-o", &format!("jsonpath={jsonpath}")])
    }

    fn secret(&self, ns: &str, name: &str, key: &str) -> String {
        let bytes = harness::secret(&self.kubeconfig(), self.dir.path(), ns, name, key);
        String::from_utf8(bytes).unwrap()
    }

    /// psql with `sslmode=verify-full` against `<cluster>-rw.<ns>.svc` (the CA from the
    /// operator's `<cluster>-ca` Secret), at the primary Pod's address; stdout, or the test fails.
    fn psql(&self, cluster: &str, user: &str, password: &str, db: &str, sql: &str) -> String {
        let ca = self.dir.path().join(format!("{cluster}-ca.crt"));
        std::fs::write(
            &ca,
            self.secret("databases", &format!("{cluster}-ca"), "ca.crt"),
        )
        .unwrap();
        let primary = self.get(
            "databases",
            &format!("cluster/{cluster}"),
            "{.status.currentPrimary}",
        );
        let ip = self.get("databases", &format!("pod/{primary}"), "{.status.podIP}");
        let conninfo = format!(
            "sslmode=verify-full sslrootcert={} host={cluster}-rw.databases.svc hostaddr={ip} \
             user={user} dbname={db}",
            ca.display()
        );
        let out = Command::new("psql")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .args([conninfo.as_str(), "-XAtc", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {cluster} {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The operator's certificates for `cluster`: its CA and server Secrets, and the status
    /// naming them.
    fn assert_certificates(&self, cluster: &str) {
        let path = format!("cluster/{cluster}");
        assert_eq!(
            self.get("databases", &path, "{.status.phase}"),
            "Cluster in healthy state"
        );
        assert!(self
            .secret("databases", &format!("{cluster}-ca"), "ca.crt")
            .contains("BEGIN CERTIFICATE"));
        assert!(self
            .secret("databases", &format!("{cluster}-server"), "tls.crt")
            .contains("BEGIN CERTIFICATE"));
        assert_eq!(
            self.get("databases", &path, "{.status.certificates.serverCASecret}"),
            format!("{cluster}-ca")
        );
        assert_eq!(
            self.get("databases", &path, "{.status.certificates.serverTLSSecret}"),
            format!("{cluster}-server")
        );
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

#[test]
fn the_synestra_scenario_comes_up_on_the_real_operator() {
    let up = Up::start("synestra.yaml");
    const PASSWORD: &str = "sandbox-initdb-Pa55";
    for cluster in ["synestra-io-cnpg", "synestra-io-dev-cnpg"] {
        up.assert_certificates(cluster);
    }
    // postInitApplicationSQL ran in the application database, its objects the owner's.
    let prod = up.psql(
        "synestra-io-cnpg",
        "synestra_io",
        PASSWORD,
        "synestra_io",
        "select (select count(*) from pages) || ':' || (select count(*) from users) || ':' || \
         string_agg(distinct tableowner, ',') from pg_tables where schemaname = 'public'",
    );
    assert_eq!(prod, "500:50:synestra_io");
    let dev = up.psql(
        "synestra-io-dev-cnpg",
        "synestra_io",
        PASSWORD,
        "synestra_io",
        "select string_agg(slug, ',') || ':' || to_regclass('dev_scratch')::text from pages",
    );
    assert_eq!(dev, "dev-only:dev_scratch");
    // initdb.secret given: CNPG makes no -app Secret.
    let secrets = up.ok(&["-n", "databases", "get", "secrets", "-o", "name"]);
    assert!(
        !secrets.contains("secret/synestra-io-cnpg-app\n"),
        "{secrets}"
    );

    // The initial Backup, taken by the instance with barman-cloud into the sandbox's S3.
    let backup = "backup/synestra-io-cnpg-initial";
    assert_eq!(up.get("databases", backup, "{.status.phase}"), "completed");
    assert_eq!(
        up.get("databases", backup, "{.status.method}"),
        "barmanObjectStore"
    );
    let id = up.get("databases", backup, "{.status.backupId}");
    assert!(!id.is_empty(), "a backup id");
    let archived = up.get(
        "databases",
        "cluster/synestra-io-cnpg",
        "{.status.conditions[?(@.type==\"ContinuousArchiving\")].status}",
    );
    assert_eq!(archived, "True", "WAL archiving works");

    // Seed 000's bad deploy: dev's last sync failed on the migration hook, whose Job is there;
    // prod synced; both apps running.
    let app = |name: &str, path: &str| up.get("argocd", &format!("application/{name}"), path);
    assert_eq!(
        app("web-synestra-io-dev", "{.status.operationState.phase}"),
        "Failed"
    );
    assert_eq!(
        app("web-synestra-io-prod", "{.status.operationState.phase}"),
        "Succeeded"
    );
    let failed = up.get("web-synestra-io-dev", "job/web-migrate", "{.status.failed}");
    assert_eq!(failed, "1", "the failed hook Job is present");
    for ns in ["web-synestra-io-dev", "web-synestra-io-prod"] {
        assert_eq!(
            up.get(ns, "deployment/web", "{.status.availableReplicas}"),
            "2"
        );
    }
    // The prod hook reached prod's database through its -rw Service name (it waits for it).
    let logs = up.ok(&["-n", "web-synestra-io-prod", "logs", "job/web-migrate"]);
    assert!(logs.contains("[payload] migrations done"), "{logs}");
}

#[test]
fn the_shared_cluster_scenario_comes_up_on_the_real_operator() {
    let up = Up::start("shared-cluster.yaml");
    up.assert_certificates("postgresql-shared");
    for (db, user, password) in [
        ("docspell", "docspell", "sandbox-docspell-Pa55"),
        ("docspell_dev", "docspell_dev", "sandbox-docspell-dev-Pa55"),
    ] {
        // CNPG's Database controller made the database, owned by the managed role, which logs
        // in with the password of its Secret.
        let got = up.psql(
            "postgresql-shared",
            user,
            password,
            db,
            "select current_database() || ':' || pg_get_userbyid(datdba) from pg_database \
             where datname = current_database()",
        );
        assert_eq!(got, format!("{db}:{user}"));
    }
    for name in ["docspell", "docspell-dev"] {
        assert_eq!(
            up.get(
                "databases",
                &format!("database/{name}"),
                "{.status.applied}"
            ),
            "true"
        );
    }
    assert_eq!(
        up.get(
            "docspell",
            "deployment/docspell",
            "{.status.availableReplicas}"
        ),
        "1"
    );
    // enableSuperuserAccess: the superuser Secret exists and logs in.
    let su = up.secret("databases", "postgresql-shared-superuser", "password");
    let who = up.psql(
        "postgresql-shared",
        "postgres",
        &su,
        "postgres",
        "select current_user",
    );
    assert_eq!(who, "postgres");
}
