//! Running one container as a local process: command and args with `$(VAR)` expansion, the
//! resolved environment, inside its Pod's network namespace, with a private mount namespace
//! where `/etc/hosts` maps Service names to their endpoints and volumes are bind-mounted at
//! their mountPaths; output goes to the pod's log line by line.
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
    /// The argv prefix entering the Pod's network namespace (`nsenter ...`).
    pub netns: &'a [String],
    pub hostname: &'a str,
    /// `uid:gid:groups` to run as, or None for root.
    pub user: Option<String>,
    /// Directories the image puts first on PATH.
    pub path: Vec<PathBuf>,
    /// The image's ENTRYPOINT (empty: none known).
    pub entrypoint: &'a [String],
    /// Whether the image is one of those `images` knows (its WORKDIR is `/`).
    pub known_image: bool,
}

/// Runs inside the container's new mount namespace: `/etc/hosts` and `/etc/resolv.conf`, the
/// mounts (a directory or a file each; a missing mount point is created on the host's root, as
/// an image would have it), then the command as the container's user.
const WRAPPER: &str = r#"hosts=$1; user=$2; shift 2
if [ -n "$hosts" ]; then
  /bin/mount --bind "$hosts" /etc/hosts
  /bin/mount --bind "${hosts%/*}/resolv.conf" /etc/resolv.conf
fi
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then /bin/mkdir -p "$2"
  else /bin/mkdir -p "${2%/*}/"; [ -e "$2" ] || : > "$2"; fi
  /bin/mount --bind "$1" "$2"; shift 2
done
shift
if [ -n "$user" ]; then
  uid=${user%%:*}; rest=${user#*:}; gid=${rest%%:*}; groups=${rest#*:}
  if [ -n "$groups" ]; then set -- --groups "$groups" -- "$@"; else set -- --clear-groups -- "$@"; fi
  exec /usr/bin/setpriv --reuid "$uid" --regid "$gid" "$@"
fi
exec "$@""#;

/// The user a container runs as (`runAsUser`/`runAsGroup` of the container, else the Pod's,
/// with `fsGroup` and `supplementalGroups`) as `uid:gid:groups`, or None for root.
pub fn run_as(pod: &Value, container: &Value, image_gid: Option<u32>) -> Option<String> {
    let pick = |k: &str| {
        container
            .pointer(&format!("/securityContext/{k}"))
            .or_else(|| pod.pointer(&format!("/spec/securityContext/{k}")))
            .and_then(Value::as_u64)
    };
    let uid = pick("runAsUser")?;
    let gid = pick("runAsGroup").or(image_gid.map(u64::from)).unwrap_or(0);
    let mut groups: Vec<String> = pod
        .pointer("/spec/securityContext/supplementalGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|g| g.to_string())
        .collect();
    if let Some(fs) = pod
        .pointer("/spec/securityContext/fsGroup")
        .and_then(Value::as_u64)
    {
        groups.push(fs.to_string());
    }
    Some(format!("{uid}:{gid}:{}", groups.join(",")))
}

/// The argv of the container (command, else the image's entrypoint, + args, expanded), or an
/// error message.
pub fn argv(
    container: &Value,
    entrypoint: &[String],
    env: &[(String, String)],
) -> Result<Vec<String>, String> {
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
    if argv.is_empty() {
        argv = entrypoint.to_vec();
    }
    argv.extend(list("args"));
    if argv.is_empty() {
        // No image can be had here, so an image's own entrypoint is unknown: an application
        // image without a command runs as an idle stand-in that stays up until stopped.
        argv = vec!["/bin/sleep".into(), "infinity".into()];
    }
    Ok(argv)
}

/// The variable every Pod process carries: its Pod's directory (leak checks and sweeps find
/// the sandbox's processes by it in `/proc/PID/environ`).
pub const POD_ENV: &str = "CNPGOPS_SANDBOX_POD";

/// Starts the container's process in its own process group.
pub fn spawn(l: &Launch) -> Result<Child, String> {
    let argv = argv(l.container, l.entrypoint, &l.env)?;
    let mut cmd = {
        let mut c = Command::new(&l.netns[0]);
        c.args(&l.netns[1..]);
        c.args([
            "/usr/bin/unshare",
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
        c.arg(l.user.clone().unwrap_or_default());
        for (src, dst) in &l.mounts {
            c.arg(src).arg(dst);
        }
        c.arg("--").args(&argv);
        c
    };
    let mut path: Vec<String> = l.path.iter().map(|p| p.display().to_string()).collect();
    path.push(l.pg_bin.display().to_string());
    path.push("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let path = path.join(":");
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", l.workdir)
        .env("HOSTNAME", l.hostname)
        // Where it belongs, for leak checks (`/proc/PID/environ`): the pod's directory, and the
        // test run that started the sandbox, if any.
        .env(POD_ENV, l.workdir);
    if let Some(run) = std::env::var_os("CNPGOPS_TEST_RUN") {
        cmd.env("CNPGOPS_TEST_RUN", run);
    }
    for (k, v) in &l.env {
        cmd.env(k, v);
    }
    // The container's workingDir, else the image's (`/` for the images known here), else the
    // pod's own directory.
    let dir = l.container["workingDir"]
        .as_str()
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .or_else(|| l.known_image.then(|| PathBuf::from("/")))
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
