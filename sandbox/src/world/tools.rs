//! Where the world's programs are (PostgreSQL binaries, the barman-cloud and moto virtualenvs)
//! and how they are run: as the `postgres` OS user when the sandbox runs as root.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::error::{Result, WorldError};

/// Default install locations (scripts/setup.sh puts them there).
pub const DEFAULT_BARMAN_VENV: &str = "/opt/cnpgops/venv-barman";
pub const DEFAULT_MOTO_VENV: &str = "/opt/cnpgops/venv-moto";
const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The OS account database servers run as when the sandbox is root.
#[derive(Debug, Clone, Copy)]
pub struct OsUser {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone)]
pub struct Tools {
    /// PostgreSQL server binaries (`initdb`, `pg_ctl`, `pg_isready`, `postgres`).
    pub pg_bin: PathBuf,
    pub barman_venv: PathBuf,
    pub moto_venv: PathBuf,
    /// Set when the sandbox runs as root: servers then run as this user (`postgres`).
    pub run_as: Option<OsUser>,
}

impl Tools {
    /// Finds the tools: env `CNPGOPS_BARMAN_VENV` / `CNPGOPS_MOTO_VENV` / `CNPGOPS_PG_BIN`, else
    /// the defaults, and `pg_config --bindir` for PostgreSQL.
    pub fn discover() -> Tools {
        let env_path = |k: &str, d: &str| PathBuf::from(std::env::var(k).unwrap_or(d.into()));
        let pg_bin = std::env::var("CNPGOPS_PG_BIN")
            .map(PathBuf::from)
            .ok()
            .or_else(pg_config_bindir)
            .filter(|p| p.join("initdb").exists())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PG_BIN));
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        Tools {
            pg_bin,
            barman_venv: env_path("CNPGOPS_BARMAN_VENV", DEFAULT_BARMAN_VENV),
            moto_venv: env_path("CNPGOPS_MOTO_VENV", DEFAULT_MOTO_VENV),
            run_as: if root { postgres_user() } else { None },
        }
    }

    pub fn pg(&self, program: &str) -> PathBuf {
        self.pg_bin.join(program)
    }

    pub fn barman(&self, program: &str) -> PathBuf {
        self.barman_venv.join("bin").join(program)
    }

    /// A command for a database-side program, run as `postgres` when the sandbox is root.
    pub fn as_postgres(&self, program: &Path) -> Command {
        let mut cmd = if self.run_as.is_some() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.current_dir("/").kill_on_drop(true);
        cmd
    }

    /// Gives `path` to the server's OS user (no-op when not root).
    pub fn chown(&self, path: &Path) -> Result<()> {
        if let Some(u) = self.run_as {
            std::os::unix::fs::chown(path, Some(u.uid), Some(u.gid))
                .map_err(|e| WorldError::io("chown for postgres", path, e))?;
        }
        Ok(())
    }
}

fn pg_config_bindir() -> Option<PathBuf> {
    let out = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| PathBuf::from(s.trim()))
}

fn postgres_user() -> Option<OsUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let f: Vec<&str> = line.split(':').collect();
    Some(OsUser {
        uid: f.get(2)?.parse().ok()?,
        gid: f.get(3)?.parse().ok()?,
    })
}

/// Runs `cmd` to completion, feeding `stdin`; returns stdout, or an error carrying stderr.
/// `what` names the object the command is for; stdin (which may hold secrets) is never logged.
pub async fn run(what: &str, cmd: &mut Command, stdin: Option<&[u8]>) -> Result<String> {
    let program = format!("{:?}", cmd.as_std().get_program());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let spawn_err = |source| WorldError::Spawn {
        what: what.into(),
        program: program.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data).await.map_err(spawn_err)?;
    }
    let out = child.wait_with_output().await.map_err(spawn_err)?;
    if !out.status.success() {
        return Err(WorldError::Command {
            what: what.into(),
            program,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
