//! Last-resort stopping of a postmaster by pid, for when `pg_ctl` cannot (its data dir was
//! deleted under it, or the sandbox that started it died): SIGQUIT is PostgreSQL's immediate
//! shutdown, and the pid is checked to be a postgres process first.
use std::path::Path;
use std::time::Duration;

/// The postmaster's pid from `data/postmaster.pid`.
pub fn postmaster_pid(data: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether `pid` is a live (non-zombie) postgres process.
pub fn is_postgres(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
    !zombie && cmdline.is_ok_and(|c| String::from_utf8_lossy(&c).contains("postgres"))
}

/// Sends SIGQUIT to a postmaster and waits (up to 5 s) for it to go.
pub fn kill_postmaster(pid: u32) {
    if !is_postgres(pid) {
        return;
    }
    tracing::warn!(pid, "stopping a database server by signal");
    let _ = std::process::Command::new("kill")
        .args(["-QUIT", &pid.to_string()])
        .status();
    for _ in 0..50 {
        if !is_postgres(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
