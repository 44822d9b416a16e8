//! One real PostgreSQL server: a data dir under the sandbox dir, `initdb`, `pg_ctl start/stop`
//! as the `postgres` OS user, listening on its own loopback address at port 5432.
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::addresses::{Lease, PG_PORT};
use super::error::{Result, WorldError};
use super::reap;
use super::tools::{run, Tools};

/// Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// What `initdb` needs beyond the defaults (CNPG's: UTF8, C collation).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    pub encoding: Option<String>,
    pub locale_collate: Option<String>,
    pub locale_ctype: Option<String>,
    pub data_checksums: bool,
}

/// A server and its files: `dir/data` (PGDATA), `dir/postgres.log`, the socket.
pub struct PgInstance {
    /// Names the instance in errors and logs, e.g. `Cluster ns/c instance c-1`.
    pub what: String,
    pub dir: PathBuf,
    pub data: PathBuf,
    pub socket_dir: PathBuf,
    pub lease: Lease,
    pub(super) tools: Arc<Tools>,
    /// Fingerprint of the extra settings and environment the running server was started with.
    started_with: Mutex<Option<u64>>,
    /// The postmaster's pid once started, to stop it even if its data dir vanished.
    pid: Mutex<Option<u32>>,
}

impl PgInstance {
    /// Prepares `dir` (owned by the server's OS user); nothing runs yet.
    pub fn new(tools: Arc<Tools>, what: String, dir: PathBuf, mut lease: Lease) -> Result<Self> {
        create_private_dir(&tools, &dir)?;
        let mut socket_dir = dir.clone();
        if dir.join(".s.PGSQL.5432").as_os_str().len() > MAX_SOCKET_PATH {
            socket_dir = std::env::temp_dir().join(format!("cnpgops-pg-{}", lease.ip));
            create_private_dir(&tools, &socket_dir)?;
        }
        let data = dir.join("data");
        lease.record(&data)?;
        Ok(PgInstance {
            what,
            dir,
            data,
            socket_dir,
            lease,
            tools,
            started_with: Mutex::new(None),
            pid: Mutex::new(None),
        })
    }

    /// `ip:5432`, what clients connect to.
    pub fn addr(&self) -> String {
        self.lease.addr()
    }

    pub fn is_initialized(&self) -> bool {
        self.data.join("PG_VERSION").exists()
    }

    pub fn is_running(&self) -> bool {
        self.data.join("postmaster.pid").exists()
    }

    /// Runs `initdb` (superuser `postgres`, local trust, SCRAM over TCP) and writes the
    /// sandbox's settings: listen on the leased address, socket in the instance dir.
    pub async fn initdb(&self, opts: &InitOptions) -> Result<()> {
        let mut cmd = self.tools.as_postgres(&self.tools.pg("initdb"));
        cmd.arg("-D").arg(&self.data).args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "--no-instructions",
        ]);
        cmd.arg(format!(
            "--encoding={}",
            opts.encoding.as_deref().unwrap_or("UTF8")
        ));
        cmd.arg(format!(
            "--lc-collate={}",
            opts.locale_collate.as_deref().unwrap_or("C")
        ));
        cmd.arg(format!(
            "--lc-ctype={}",
            opts.locale_ctype.as_deref().unwrap_or("C")
        ));
        if opts.data_checksums {
            cmd.arg("--data-checksums");
        }
        run(&self.what, &mut cmd, None).await?;
        self.append_conf("postgresql.conf", "\ninclude_if_exists = 'sandbox.conf'\n")?;
        let hba = "local all all trust\nhost all all all scram-sha-256\n";
        let path = self.data.join("pg_hba.conf");
        std::fs::write(&path, hba).map_err(|e| WorldError::io(&self.what, &path, e))
    }

    /// `sandbox.conf`, rewritten at every start: the address (which may differ between runs
    /// of a sandbox over the same dir) and `extra` (e.g. archiving).
    pub(super) fn settings(&self, extra: &str) -> String {
        format!(
            "# cnpgops sandbox (rewritten at every start)\nlisten_addresses = '{}'\nport = {PG_PORT}\n\
             unix_socket_directories = '{}'\npassword_encryption = 'scram-sha-256'\n\
             shared_buffers = '32MB'\nfsync = off\nsynchronous_commit = off\n\
             max_wal_size = '256MB'\nlog_min_error_statement = panic\n{extra}",
            self.lease.ip,
            self.socket_dir.display()
        )
    }

    /// Appends to a config file in PGDATA (written as the sandbox user; the file is postgres').
    pub fn append_conf(&self, file: &str, text: &str) -> Result<()> {
        use std::io::Write;
        let path = self.data.join(file);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| WorldError::io(&self.what, &path, e))
    }

    /// Starts the server with `extra` settings and `env` in the postmaster's environment (e.g.
    /// S3 credentials for `archive_command`); waits until it accepts connections.
    pub async fn start(&self, extra: &str, env: &[(String, String)]) -> Result<()> {
        // A server this instance started before and that still runs (e.g. its data dir vanished
        // under it) is stopped by pid first, or it would be orphaned when the slot is reused.
        self.reap();
        let conf = self.data.join("sandbox.conf");
        std::fs::write(&conf, self.settings(extra))
            .map_err(|e| WorldError::io(&self.what, &conf, e))?;
        self.tools.chown(&conf)?;
        let log = self.dir.join("postgres.log");
        let mut cmd = self.tools.as_postgres(&self.tools.pg("pg_ctl"));
        cmd.arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log);
        cmd.args(["-w", "-t", "60", "-s"]).envs(env.iter().cloned());
        run(&self.what, &mut cmd, None).await?;
        *self.fingerprint() = Some(fingerprint(extra, env));
        *self.pid_slot() = reap::postmaster_pid(&self.data);
        self.wait_ready(Duration::from_secs(30)).await
    }

    /// Whether the server this instance started still runs (by its remembered pid, which
    /// outlives a vanished data dir).
    pub fn has_live_server(&self) -> bool {
        let pid = *self.pid_slot();
        pid.is_some_and(reap::is_postgres)
    }

    pub(super) fn pid_slot(&self) -> std::sync::MutexGuard<'_, Option<u32>> {
        self.pid.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Kills the postmaster by pid if it still runs (after pg_ctl, or instead of it).
    fn reap(&self) {
        if let Some(pid) = self.pid_slot().take() {
            reap::kill_postmaster(pid);
        }
    }

    fn fingerprint(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.started_with.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the server, or restarts it when it runs with other settings or environment;
    /// returns whether it (re)started.
    pub async fn ensure_running(&self, extra: &str, env: &[(String, String)]) -> Result<bool> {
        let running = self.is_running();
        if running && *self.fingerprint() == Some(fingerprint(extra, env)) {
            return Ok(false);
        }
        if running {
            self.stop().await?;
        }
        self.start(extra, env).await?;
        Ok(true)
    }

    /// Polls `pg_isready` on the server's TCP address.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut cmd = tokio::process::Command::new(self.tools.pg("pg_isready"));
            cmd.args(["-q", "-h", &self.lease.ip.to_string(), "-p"])
                .arg(PG_PORT.to_string())
                .kill_on_drop(true);
            if run(&self.what, &mut cmd, None).await.is_ok() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(WorldError::Timeout {
                    what: format!("{} (pg_isready on {})", self.what, self.addr()),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server: fast shutdown, immediate when that does not finish in 30 s.
    pub async fn stop(&self) -> Result<()> {
        if !self.is_running() {
            self.reap();
            return Ok(());
        }
        let mut cmd = self.tools.as_postgres(&self.tools.pg("pg_ctl"));
        cmd.arg("stop").arg("-D").arg(&self.data);
        cmd.args(["-m", "fast", "-w", "-t", "30", "-s"]);
        if run(&self.what, &mut cmd, None).await.is_err() && self.is_running() {
            let mut cmd = self.tools.as_postgres(&self.tools.pg("pg_ctl"));
            cmd.arg("stop").arg("-D").arg(&self.data);
            cmd.args(["-m", "immediate", "-w", "-t", "30", "-s"]);
            run(&self.what, &mut cmd, None).await?;
        }
        *self.fingerprint() = None;
        self.reap();
        Ok(())
    }

    /// Stops the server without an async runtime (drop paths): immediate shutdown.
    pub fn stop_blocking(&self) {
        if !self.is_running() {
            self.reap();
            return;
        }
        let pg_ctl = self.tools.pg("pg_ctl");
        let mut cmd = if self.tools.run_as.is_some() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_ctl);
            c
        } else {
            std::process::Command::new(pg_ctl)
        };
        cmd.arg("stop").arg("-D").arg(&self.data);
        cmd.args(["-m", "immediate", "-w", "-t", "30", "-s"]);
        let _ = cmd
            .current_dir("/")
            .stdout(std::process::Stdio::null())
            .status();
        self.reap();
    }

    /// Runs SQL (fed on stdin, so secrets never reach a command line) as `postgres` over the
    /// unix socket; returns unaligned, tuples-only output.
    pub async fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let mut cmd = tokio::process::Command::new(self.tools.pg("psql"));
        cmd.arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(PG_PORT.to_string());
        cmd.args(["-U", "postgres", "-d", db, "-X", "-q", "-A", "-t"]);
        cmd.args(["-v", "ON_ERROR_STOP=1", "-f", "-"])
            .kill_on_drop(true);
        run(&self.what, &mut cmd, Some(sql.as_bytes())).await
    }

    /// Stops the server and deletes its files.
    pub async fn destroy(&self) -> Result<()> {
        self.stop().await?;
        remove_dir(&self.what, &self.dir)?;
        if self.socket_dir != self.dir {
            remove_dir(&self.what, &self.socket_dir)?;
        }
        Ok(())
    }
}

fn fingerprint(extra: &str, env: &[(String, String)]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (extra, env).hash(&mut h);
    h.finish()
}

fn remove_dir(what: &str, dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(WorldError::io(what, dir, e)),
        _ => Ok(()),
    }
}

/// A 0700 directory owned by the server's OS user.
fn create_private_dir(tools: &Tools, dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| WorldError::io("instance dir", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| WorldError::io("instance dir", dir, e))?;
    tools.chown(dir)
}

/// SQL string literal (standard_conforming_strings is on: only quotes need doubling).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
