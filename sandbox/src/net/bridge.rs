//! The bridge `cnpgops0` and the host-local addresses on it, made with iproute2 (`ip`). Every
//! call is idempotent and safe against other sandboxes doing the same at the same time.
use std::net::Ipv4Addr;
use std::process::Command;

/// The bridge's name.
pub const BRIDGE: &str = "cnpgops0";
/// The bridge's own address: the Pods' default gateway.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 1);
/// The prefix length of the whole sandbox network.
pub const PREFIX: u8 = 16;

/// Runs `ip ARGS`; an "exists" answer counts as done.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!(
            "failed to run `ip {}`: {e} (install iproute2)",
            args.join(" ")
        )
    })?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || err.contains("File exists") || err.contains("already assigned") {
        return Ok(());
    }
    Err(format!("`ip {}` failed: {}", args.join(" "), err.trim()))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Makes sure the bridge exists with its address and is up.
pub fn ensure() -> Result<(), String> {
    if !is_root() {
        return Err(
            "the sandbox needs root: it gives every Pod its own network namespace on \
                    the bridge cnpgops0 (run it as root, e.g. in the project's machine or a \
                    privileged container)"
                .into(),
        );
    }
    ip(&["link", "add", BRIDGE, "type", "bridge"])?;
    ip(&["addr", "add", &format!("{GATEWAY}/{PREFIX}"), "dev", BRIDGE])?;
    ip(&["link", "set", BRIDGE, "up"])
}

/// Adds `addr` as a host-local address on the bridge (servers listen on it).
pub fn add_local(addr: Ipv4Addr) -> Result<(), String> {
    ensure()?;
    ip(&["addr", "add", &format!("{addr}/32"), "dev", BRIDGE])
}

/// Removes a host-local address (best effort: gone already is fine).
pub fn del_local(addr: Ipv4Addr) {
    let _ = Command::new("ip")
        .args(["addr", "del", &format!("{addr}/32"), "dev", BRIDGE])
        .output();
}
