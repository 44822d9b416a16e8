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
/// The bridge's MAC, fixed (locally administered). A bridge without one takes the lowest of its
/// ports' and changes it as Pods come and go: every other Pod's ARP entry for the host's
/// addresses (the apiserver, the database servers) then points nowhere until it expires, and
/// their connections hang for up to a minute (an in-cluster cnpgops lost its run lock so).
pub const BRIDGE_MAC: &str = "02:63:6e:70:67:01";

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
    pin_mac()?;
    ip(&["addr", "add", &format!("{GATEWAY}/{PREFIX}"), "dev", BRIDGE])?;
    ip(&["link", "set", BRIDGE, "up"])
}

/// Gives the bridge [`BRIDGE_MAC`] unless it has it (setting it again would flush the host's
/// neighbour entries of every Pod).
fn pin_mac() -> Result<(), String> {
    let now = std::fs::read_to_string(format!("/sys/class/net/{BRIDGE}/address"));
    if now.is_ok_and(|m| m.trim() == BRIDGE_MAC) {
        return Ok(());
    }
    ip(&["link", "set", BRIDGE, "address", BRIDGE_MAC])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> String {
        let path = format!("/sys/class/net/{BRIDGE}/address");
        std::fs::read_to_string(path).unwrap().trim().to_string()
    }

    /// Pods' veths join and leave the bridge; its MAC (what every Pod's ARP entry for the host's
    /// addresses holds) stays.
    #[tokio::test]
    async fn the_bridge_keeps_its_mac_as_pods_come_and_go() {
        let first = crate::net::pod::PodNet::create("mac-a").await.unwrap();
        assert_eq!(mac(), BRIDGE_MAC);
        let second = crate::net::pod::PodNet::create("mac-b").await.unwrap();
        drop(first);
        assert_eq!(mac(), BRIDGE_MAC);
        drop(second);
        assert_eq!(mac(), BRIDGE_MAC);
    }
}
