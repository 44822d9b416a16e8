//! Loopback addresses for database servers: each server gets its own 127.10.x.y on port 5432.
//! A lease is an exclusive lock on a file in one machine-wide directory, so sandboxes in other processes
//! never get the same address; a server leaked by a killed sandbox is stopped when its address
//! is leased again.
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};

use super::error::{Result, WorldError};

/// The port every sandbox database server listens on, as in a real cluster.
pub const PG_PORT: u16 = 5432;

/// An address held for one server until dropped.
#[derive(Debug)]
pub struct Lease {
    pub ip: Ipv4Addr,
    file: File,
}

impl Lease {
    /// Records what holds the address (the server's data dir), for reaping after a crash.
    pub fn record(&mut self, data_dir: &Path) -> Result<()> {
        let path = lock_dir().join(format!("{}.lock", self.ip));
        let text = data_dir.to_string_lossy();
        self.file
            .set_len(0)
            .and_then(|_| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .map_err(|e| WorldError::io("address lease", path, e))
    }

    pub fn addr(&self) -> String {
        format!("{}:{PG_PORT}", self.ip)
    }
}

/// One directory for the whole machine, whatever `TMPDIR` says: two test runs with their own
/// temp dirs (scripts/test.sh gives each run one) must still never lease the same address.
fn lock_dir() -> PathBuf {
    PathBuf::from("/tmp/cnpgops-sandbox-addresses")
}

/// Leases the lowest free address from 127.10.0.2 on.
pub fn lease() -> Result<Lease> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).map_err(|e| WorldError::io("address leases", &dir, e))?;
    for n in 2u32..0xFFFF {
        let ip = Ipv4Addr::from(0x7F0A_0000 | n);
        if ip.octets()[3] == 0 || ip.octets()[3] == 255 {
            continue;
        }
        let path = dir.join(format!("{ip}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| WorldError::io("address lease", &path, e))?;
        if file.try_lock().is_err() {
            continue;
        }
        if !port_free(ip) {
            reap_leaked(&mut file);
            if !port_free(ip) {
                continue;
            }
        }
        return Ok(Lease { ip, file });
    }
    Err(WorldError::NoAddress)
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
        assert_eq!(a.ip.octets()[..2], [127, 10]);
        drop(a);
        let c = lease().expect("third lease");
        assert_ne!(c.ip, b.ip, "a held address is never handed out twice");
    }
}
