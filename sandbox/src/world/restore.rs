//! Restoring a server from barman-cloud: `barman-cloud-restore` of a base backup into PGDATA,
//! the inherited settings made harmless (the source's archive and recovery settings dropped
//! from `postgresql.auto.conf`, gotcha 8), the `restore_command` (a wrapper script outside
//! PGDATA that holds the source store's credentials, so the postmaster's environment keeps the
//! new cluster's own), and the server run in recovery until it promotes or gives up.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::barman::{sh_quote, StoreConfig};
use super::error::{Result, WorldError};
use super::postgres::PgInstance;
use super::reap;
use super::tools::{run, Tools};

/// Settings a restored data dir must not keep from its source.
const INHERITED: [&str; 4] = [
    "archive_",
    "restore_command",
    "recovery_",
    "primary_conninfo",
];

/// What a server in recovery answers the connections made to follow it (not why it stopped).
const CONNECTION_REFUSALS: [&str; 2] = [
    "the database system is starting up",
    "the database system is not yet accepting connections",
];

/// How a recovery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Promoted,
    /// The server stopped in recovery; the PostgreSQL error that ended it.
    Failed(String),
}

impl StoreConfig {
    /// `barman-cloud-restore` of `backup_id` into `pg`'s (absent) data dir.
    pub async fn restore(&self, tools: &Tools, pg: &PgInstance, backup_id: &str) -> Result<()> {
        let mut cmd = tools.as_postgres(&tools.barman("barman-cloud-restore"));
        cmd.args(self.endpoint_args())
            .args(self.location())
            .arg(backup_id)
            .arg(&pg.data)
            .envs(self.env());
        run(&pg.what, &mut cmd, None).await?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pg.data, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| WorldError::io(&pg.what, &pg.data, e))
    }

    /// Writes `path`: a 0700 script for `restore_command = '<path> %f %p'` running
    /// barman-cloud-wal-restore with this store's credentials.
    pub fn write_restore_script(&self, tools: &Tools, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut text =
            String::from("#!/bin/sh\n# restore_command of a recovering sandbox server\n");
        for (k, v) in self.env() {
            text.push_str(&format!("export {k}={}\n", sh_quote(&v)));
        }
        let mut words = vec![tools
            .barman("barman-cloud-wal-restore")
            .display()
            .to_string()];
        words.extend(self.endpoint_args());
        words.extend(self.location());
        let cmd: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        text.push_str(&format!("exec {} \"$1\" \"$2\"\n", cmd.join(" ")));
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o700)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| WorldError::io("restore command", path, e))?;
        tools.chown(path)
    }
}

impl PgInstance {
    /// Where the restore script of this instance goes (outside PGDATA: never in a backup).
    pub fn restore_script(&self) -> PathBuf {
        self.dir.join("restore-wal.sh")
    }

    /// Drops the source's archive/recovery settings from `postgresql.auto.conf`, makes sure
    /// `sandbox.conf` is included, and asks for recovery (`recovery.signal`).
    pub fn prepare_recovery(&self) -> Result<()> {
        let auto = self.data.join("postgresql.auto.conf");
        if let Ok(text) = std::fs::read_to_string(&auto) {
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !INHERITED.iter().any(|p| l.trim_start().starts_with(p)))
                .collect();
            std::fs::write(&auto, kept.join("\n") + "\n")
                .map_err(|e| WorldError::io(&self.what, &auto, e))?;
        }
        let conf = self.data.join("postgresql.conf");
        let text =
            std::fs::read_to_string(&conf).map_err(|e| WorldError::io(&self.what, &conf, e))?;
        if !text.contains("include_if_exists = 'sandbox.conf'") {
            self.append_conf("postgresql.conf", "\ninclude_if_exists = 'sandbox.conf'\n")?;
        }
        let signal = self.data.join("recovery.signal");
        std::fs::write(&signal, b"").map_err(|e| WorldError::io(&self.what, &signal, e))?;
        self.tools.chown(&signal)
    }

    /// Starts the server in recovery with `extra` settings and `env`, and follows it until it
    /// promotes, stops, or `timeout` passes.
    pub async fn recover(
        &self,
        extra: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<Outcome> {
        let conf = self.data.join("sandbox.conf");
        std::fs::write(&conf, self.settings(extra))
            .map_err(|e| WorldError::io(&self.what, &conf, e))?;
        self.tools.chown(&conf)?;
        let log = self.dir.join("postgres.log");
        let from = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = self.tools.as_postgres(&self.tools.pg("pg_ctl"));
        cmd.arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log);
        cmd.args(["-W", "-s"]).envs(env.iter().cloned());
        run(&self.what, &mut cmd, None).await?;
        let t0 = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some(pid) = reap::postmaster_pid(&self.data) {
                *self.pid_slot() = Some(pid);
            }
            let state = self.psql("postgres", "SELECT pg_is_in_recovery();").await;
            if state.is_ok_and(|s| s.trim() == "f") {
                return Ok(Outcome::Promoted);
            }
            if !self.is_running() && t0.elapsed() > Duration::from_secs(2) {
                return Ok(Outcome::Failed(fatal_line(&log, from)));
            }
            if t0.elapsed() > timeout {
                self.stop().await?;
                return Err(WorldError::Timeout {
                    what: format!("{} (recovery)", self.what),
                    secs: timeout.as_secs(),
                });
            }
        }
    }
}

/// The first FATAL/PANIC line the server logged since `from` (the error that ended recovery).
fn fatal_line(log: &Path, from: u64) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let tail = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default()).into_owned();
    tail.lines()
        .filter_map(|l| {
            l.find("FATAL:")
                .or_else(|| l.find("PANIC:"))
                .map(|i| &l[i..])
        })
        .find(|m| !CONNECTION_REFUSALS.iter().any(|r| m.contains(r)))
        .or_else(|| tail.lines().last())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "the server stopped during recovery".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_that_ended_recovery_is_found_past_connection_refusals() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("postgres.log");
        let text = "old run FATAL:  something earlier\n\
            2026-01-01 UTC [9] FATAL:  the database system is starting up\n\
            2026-01-01 UTC [8] LOG:  last completed transaction was at log time x\n\
            2026-01-01 UTC [8] FATAL:  recovery ended before configured recovery target was reached\n\
            2026-01-01 UTC [7] LOG:  database system is shut down\n";
        std::fs::write(&log, text).expect("log");
        let from = "old run FATAL:  something earlier\n".len() as u64;
        assert_eq!(
            fatal_line(&log, from),
            "FATAL: recovery ended before configured recovery target was reached"
        );
        std::fs::write(&log, "LOG:  database system is shut down\n").expect("log");
        assert_eq!(fatal_line(&log, 0), "LOG: database system is shut down");
    }

    #[test]
    fn the_restore_script_keeps_keys_out_of_the_command_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = StoreConfig {
            destination_path: "s3://b/p".into(),
            server_name: "prod".into(),
            endpoint_url: "http://127.0.0.1:9".into(),
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some("SE'CRET".into()),
            region: None,
            session_token: None,
            wal_compression: None,
            data_compression: None,
            data_jobs: None,
            immediate_checkpoint: false,
        };
        let path = dir.path().join("restore-wal.sh");
        let mut tools = Tools::discover();
        tools.run_as = None;
        cfg.write_restore_script(&tools, &path).expect("written");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("export AWS_SECRET_ACCESS_KEY='SE'\\''CRET'\n"),
            "{text}"
        );
        let exec = text.lines().last().unwrap_or_default();
        assert!(
            exec.ends_with("'s3://b/p' 'prod' \"$1\" \"$2\"") && !exec.contains("AKIA"),
            "{exec}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
