//! Addresses for database servers: each server gets its own address on the sandbox bridge
//! (10.244.16.0 on, see `net`) on port 5432, reachable from the host and from Pods. A lease is
//! an exclusive lock on a file in one machine-wide directory, so sandboxes in other processes
//! never get the same address; a server leaked by a killed sandbox is stopped when its address
//! is leased again.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::Path;

use super::error::{Result, WorldError};

/// The port every sandbox database server listens on, as in a real cluster.
pub const PG_PORT: u16 = 5432;

/// An address held for one server until dropped.
#[derive(Debug)]
pub struct Lease {
    pub ip: Ipv4Addr,
    lease: crate::net::Lease,
}

impl Drop for Lease {
    fn drop(&mut self) {
        crate::net::bridge::del_local(self.ip);
    }
}

impl Lease {
    /// Records what holds the address (the server's data dir), for reaping after a crash.
    pub fn record(&mut self, data_dir: &Path) -> Result<()> {
        let text = data_dir.to_string_lossy();
        let file = &mut self.lease.file;
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .map_err(|e| WorldError::io("address lease", &self.lease.path, e))
    }

    pub fn addr(&self) -> String {
        format!("{}:{PG_PORT}", self.ip)
    }
}

/// Leases the lowest free server address and puts it on the bridge.
pub fn lease() -> Result<Lease> {
    crate::net::bridge::ensure().map_err(WorldError::Network)?;
    let lease = crate::net::SERVERS
        .lease(|l| {
            if crate::net::bridge::add_local(l.ip).is_err() {
                return false;
            }
            if !port_free(l.ip) {
                reap_leaked(&mut l.file);
            }
            port_free(l.ip)
        })
        .map_err(|_| WorldError::NoAddress)?;
    Ok(Lease {
        ip: lease.ip,
        lease,
    })
}

fn port_free(ip: Ipv4Addr) -> bool {
    TcpListener::bind(SocketAddrV4::new(ip, PG_PORT)).is_ok()
}

/// Stops a postmaster left running on a leased address by a sandbox that died without
/// cleaning up (its data dir is in the lock file).
fn reap_leaked(file: &mut File) {
    let mut data_dir = String::new();
    if file.read_to_string(&mut data_dir).is_err() || data_dir.is_empty() {
        return;
    }
    if let Some(pid) = super::reap::postmaster_pid(Path::new(data_dir.trim())) {
        super::reap::kill_postmaster(pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_distinct_while_held() {
        let a = lease().expect("first lease");
        let b = lease().expect("second lease");
        assert_ne!(a.ip, b.ip);
        assert_eq!(a.ip.octets()[..2], [10, 244]);
        drop(a);
        let c = lease().expect("third lease");
        assert_ne!(c.ip, b.ip, "a held address is never handed out twice");
    }
}
