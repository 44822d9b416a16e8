//! A Pod's network: a pause process holding a new network and UTS namespace (the Pod's
//! hostname), a veth from it to the bridge, and the Pod's address with a default route through
//! the bridge. Containers join it with `nsenter`; when the pause process ends, the namespace
//! and the veth go with it.
use std::net::Ipv4Addr;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::bridge::{self, ip, BRIDGE, GATEWAY, PREFIX};
use super::{Lease, PODS};

/// A running Pod network; dropping it ends the namespace and frees the address.
pub struct PodNet {
    pub ip: Ipv4Addr,
    /// The pause process: containers enter its namespaces.
    pub pid: u32,
    _pause: Child,
    _lease: Lease,
}

/// The host end's name: unique per pod address (pods use 10.244.128.0/17).
fn host_if(addr: Ipv4Addr) -> String {
    let [_, _, c, d] = addr.octets();
    format!("cnp{c:02x}{d:02x}")
}

impl PodNet {
    /// Creates the namespace for a Pod called `hostname`.
    pub async fn create(hostname: &str) -> Result<PodNet, String> {
        bridge::ensure()?;
        let lease = PODS.lease(|_| true).map_err(|e| e.to_string())?;
        let addr = lease.ip;
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "--uts", "--", "/bin/sh", "-c"])
            .arg("hostname \"$0\" && exec /bin/sleep infinity")
            .arg(hostname)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(run) = std::env::var_os("CNPGOPS_TEST_RUN") {
            cmd.env("CNPGOPS_TEST_RUN", run);
        }
        let pause = cmd
            .spawn()
            .map_err(|e| format!("failed to start the pod's pause process: {e}"))?;
        let pid = pause.id().unwrap_or(0);
        let net = PodNet {
            ip: addr,
            pid,
            _pause: pause,
            _lease: lease,
        };
        net.wire().await?;
        Ok(net)
    }

    async fn wire(&self) -> Result<(), String> {
        let host = host_if(self.ip);
        // A veth left by a crashed sandbox's pod with this address goes first.
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &host])
            .output();
        let pid = self.pid.to_string();
        // The namespace exists once unshare has exec'd; wait for it (a few ms).
        for _ in 0..200 {
            let own = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
            let init = std::fs::read_link("/proc/self/ns/net").ok();
            if own.is_some() && own != init {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &pid,
        ])?;
        ip(&["link", "set", &host, "master", BRIDGE, "up"])?;
        let inside = format!(
            "ip link set lo up && ip link set eth0 up && ip addr add {}/{PREFIX} dev eth0 && \
             ip route add default via {GATEWAY}",
            self.ip
        );
        let out = std::process::Command::new("nsenter")
            .args(["-t", &pid, "-n", "--", "/bin/sh", "-c", &inside])
            .output()
            .map_err(|e| format!("failed to run nsenter: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "configuring the pod network failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// SIGKILLs every process inside this Pod's network namespace but the pause process (what a
    /// runtime does to a container's cgroup: a daemon that left its process group, such as the
    /// PostgreSQL that CNPG's instance manager starts, goes too).
    pub fn kill_inside(&self) {
        kill_in_netns_of(self.pid, false);
    }

    /// The argv prefix that runs a command inside this Pod's network and UTS namespaces.
    pub fn enter(&self) -> Vec<String> {
        ["nsenter", "-t", &self.pid.to_string(), "-n", "-u", "--"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

/// SIGKILLs every process in the network namespace of `holder` (and `holder` too when
/// `with_holder`). The namespace is compared by its `/proc/PID/ns/net` identity.
pub fn kill_in_netns_of(holder: u32, with_holder: bool) {
    let Ok(ns) = std::fs::read_link(format!("/proc/{holder}/ns/net")) else {
        return;
    };
    let Ok(own) = std::fs::read_link("/proc/self/ns/net") else {
        return;
    };
    if ns == own {
        return; // never the host's own namespace
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == holder && !with_holder {
            continue;
        }
        if std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n == ns) {
            // SAFETY: kill only sends a signal; a pid gone meanwhile yields ESRCH.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}
