//! Running one container as a local process: command and args with `$(VAR)` expansion, the
//! resolved environment, a private mount namespace (as root) where `/etc/hosts` maps Service
//! names to the sandbox's addresses and volumes are bind-mounted at their mountPaths; output
//! goes to the pod's log line by line.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::env::expand;
use crate::logs::{LogKey, LogStore};

/// What a container needs to run.
pub struct Launch<'a> {
    pub container: &'a Value,
    pub env: Vec<(String, String)>,
    pub workdir: &'a Path,
    pub hosts: Option<&'a Path>,
    /// (host directory, mountPath)
    pub mounts: Vec<(PathBuf, String)>,
    pub pg_bin: &'a Path,
}

const WRAPPER: &str = r#"hosts=$1; shift
if [ -n "$hosts" ]; then /bin/mount --bind "$hosts" /etc/hosts; fi
while [ "$1" != "--" ]; do /bin/mkdir -p "$2"; /bin/mount --bind "$1" "$2"; shift 2; done
shift
exec "$@""#;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The argv of the container (command + args, expanded), or an error message.
pub fn argv(container: &Value, env: &[(String, String)]) -> Result<Vec<String>, String> {
    let list = |k: &str| {
        container[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| expand(s, env))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let mut argv = list("command");
    argv.extend(list("args"));
    if argv.is_empty() {
        // No image can be had here, so an image's own entrypoint is unknown: an application
        // image without a command runs as an idle stand-in that stays up until stopped.
        argv = vec!["/bin/sleep".into(), "infinity".into()];
    }
    Ok(argv)
}

/// Starts the container's process in its own process group.
pub fn spawn(l: &Launch) -> Result<Child, String> {
    let argv = argv(l.container, &l.env)?;
    let isolate = is_root() && Path::new("/usr/bin/unshare").exists();
    let mut cmd = if isolate {
        let mut c = Command::new("/usr/bin/unshare");
        c.args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            WRAPPER,
            "sh",
        ]);
        c.arg(
            l.hosts
                .map(|h| h.as_os_str().to_owned())
                .unwrap_or_default(),
        );
        for (src, dst) in &l.mounts {
            c.arg(src).arg(dst);
        }
        c.arg("--").args(&argv);
        c
    } else {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    let path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        l.pg_bin.display()
    );
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", l.workdir)
        .env("HOSTNAME", "sandbox-pod")
        // Where it belongs, for leak checks (`/proc/PID/environ`): the pod's directory, and the
        // test run that started the sandbox, if any.
        .env("CNPGOPS_SANDBOX_POD", l.workdir);
    if let Some(run) = std::env::var_os("CNPGOPS_TEST_RUN") {
        cmd.env("CNPGOPS_TEST_RUN", run);
    }
    for (k, v) in &l.env {
        cmd.env(k, v);
    }
    let dir = l.container["workingDir"]
        .as_str()
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| l.workdir.to_path_buf());
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // No PR_SET_PDEATHSIG here: it fires when the *thread* that forked the child ends, and
    // containers are started from tokio threads that may end (one that ran block_in_place);
    // it SIGKILLed running Pods after ~10 s. The sandbox kills its Pods when it stops.
    cmd.spawn()
        .map_err(|e| format!("failed to start {:?}: {e}", argv[0]))
}

/// Copies the child's stdout and stderr into the log, line by line, until both close.
pub fn pump_logs(
    child: &mut Child,
    logs: Arc<LogStore>,
    key: LogKey,
) -> impl std::future::Future<Output = ()> + use<> {
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(copy(BufReader::new(s), logs.clone(), key.clone())));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(copy(BufReader::new(s), logs.clone(), key.clone())));
    async move {
        for t in [out, err].into_iter().flatten() {
            let _ = t.await;
        }
    }
}

async fn copy<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    logs: Arc<LogStore>,
    key: LogKey,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.append(&key, &format!("{line}\n"));
    }
}

/// Sends `sig` to the whole process group of `pid`.
pub fn signal_group(pid: u32, sig: i32) {
    // SAFETY: killpg only sends a signal; a stale pid group yields ESRCH, which we ignore.
    unsafe {
        libc::killpg(pid as i32, sig);
    }
}
