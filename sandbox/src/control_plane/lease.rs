//! A loopback address per control plane (127.11.x.y), held by an exclusive lock on a file in one
//! machine-wide directory: concurrent sandboxes (tests run several) never share an address, so
//! every component keeps its well-known port (etcd 2379/2380, the apiserver 6443).
use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::PathBuf;

use anyhow::Context;

/// Ports every control plane uses on its own address.
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;
pub const APISERVER_PORT: u16 = 6443;

/// An address held until dropped.
#[derive(Debug)]
pub struct AddressLease {
    pub ip: Ipv4Addr,
    _file: File,
}

fn lock_dir() -> PathBuf {
    PathBuf::from("/tmp/cnpgops-sandbox-control-planes")
}

/// Leases the lowest free 127.11.x.y whose ports are free (an address in use is skipped).
pub fn lease() -> anyhow::Result<AddressLease> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    for n in 1u32..0xFFFF {
        let ip = Ipv4Addr::from(0x7F0B_0000 | n);
        if matches!(ip.octets()[3], 0 | 255) {
            continue;
        }
        let path = dir.join(format!("{ip}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("failed to open {}", path.display()))?;
        if file.try_lock().is_err() {
            continue;
        }
        let free = [ETCD_CLIENT_PORT, ETCD_PEER_PORT, APISERVER_PORT]
            .iter()
            .all(|p| TcpListener::bind(SocketAddrV4::new(ip, *p)).is_ok());
        if free {
            return Ok(AddressLease { ip, _file: file });
        }
    }
    anyhow::bail!("no free loopback address in 127.11.0.0/16 for a control plane")
}
