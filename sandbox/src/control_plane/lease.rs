//! An address per control plane (10.244.1.x on the sandbox bridge, see `net`), held by an
//! exclusive lock on a file in one machine-wide directory: concurrent sandboxes (tests run
//! several) never share an address, so every component keeps its well-known port (etcd
//! 2379/2380, the apiserver 6443), and Pods reach the apiserver as on a node.
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use crate::net::CONTROL_PLANES;

/// Ports every control plane uses on its own address.
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;
pub const APISERVER_PORT: u16 = 6443;

/// An address held until dropped (it then leaves the bridge).
#[derive(Debug)]
pub struct AddressLease {
    pub ip: Ipv4Addr,
    _lease: crate::net::Lease,
}

impl Drop for AddressLease {
    fn drop(&mut self) {
        crate::net::bridge::del_local(self.ip);
    }
}

/// Leases the lowest free control-plane address whose ports are free (an address in use is
/// skipped) and puts it on the bridge, where Pods reach it.
pub fn lease() -> anyhow::Result<AddressLease> {
    crate::net::bridge::ensure().map_err(anyhow::Error::msg)?;
    let lease = CONTROL_PLANES.lease(|l| {
        crate::net::bridge::add_local(l.ip).is_ok()
            && [ETCD_CLIENT_PORT, ETCD_PEER_PORT, APISERVER_PORT]
                .iter()
                .all(|p| TcpListener::bind(SocketAddrV4::new(l.ip, *p)).is_ok())
    })?;
    Ok(AddressLease {
        ip: lease.ip,
        _lease: lease,
    })
}
