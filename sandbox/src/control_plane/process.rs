//! A component of the control plane as a child process: its output in `DIR/logs/NAME.log`,
//! killed by the kernel if the sandbox dies (`PR_SET_PDEATHSIG`), stopped with SIGTERM then
//! SIGKILL, and reported with its log's tail when it exits early.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

/// A running component.
pub struct Component {
    pub name: &'static str,
    pub log: PathBuf,
    child: Child,
}

impl Component {
    /// Starts `program` with `args`, logging to `logs/NAME.log`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        logs: &Path,
    ) -> anyhow::Result<Component> {
        std::fs::create_dir_all(logs)
            .with_context(|| format!("failed to create {}", logs.display()))?;
        let log = logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("failed to create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; the closure touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to start {name} ({})", program.display()))?;
        Ok(Component { name, log, child })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the process: a stalled component, as under a
    /// starved node or a leader failover, whose work (conditions, Pods) simply lags.
    pub fn pause(&self, paused: bool) -> anyhow::Result<()> {
        let pid = self.child.id().context("the process has exited")?;
        let signal = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill only sends a signal to our own child.
        if unsafe { libc::kill(pid as i32, signal) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// `Err` with the log's tail if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "{} exited ({status}); the last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            ),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; waits for the exit.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill only sends a signal to our own child.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
                // A paused component acts on SIGTERM only once continued.
                libc::kill(pid as i32, libc::SIGCONT);
            }
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// The last `n` lines of a file (for error messages).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
