//! Address pools on the sandbox network. A lease is an exclusive lock on a file in a
//! machine-wide directory, so sandboxes in other processes never get the same address; the
//! lock dies with its process, so a crashed sandbox's addresses are free again.
use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// A range of addresses with its own lock directory.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    name: &'static str,
    first: [u8; 4],
    last: [u8; 4],
}

/// An address held until dropped, with its lock file (which can record what uses it).
#[derive(Debug)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub file: File,
    pub path: PathBuf,
}

impl Pool {
    pub const fn new(name: &'static str, first: [u8; 4], last: [u8; 4]) -> Pool {
        Pool { name, first, last }
    }

    /// One directory for the whole machine, whatever `TMPDIR` says: two test runs with their
    /// own temp dirs must still never lease the same address.
    pub fn lock_dir(&self) -> PathBuf {
        PathBuf::from(format!("/tmp/cnpgops-sandbox-{}", self.name))
    }

    /// Leases the lowest free address `usable` accepts (it may clean up after a crashed holder
    /// through the lease's file before answering).
    pub fn lease(&self, mut usable: impl FnMut(&mut Lease) -> bool) -> anyhow::Result<Lease> {
        let dir = self.lock_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", dir.display()))?;
        let (first, last) = (
            u32::from_be_bytes(self.first),
            u32::from_be_bytes(self.last),
        );
        for n in first..=last {
            let ip = Ipv4Addr::from(n);
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
                .map_err(|e| anyhow::anyhow!("failed to open {}: {e}", path.display()))?;
            if file.try_lock().is_err() {
                continue;
            }
            let mut lease = Lease { ip, file, path };
            if usable(&mut lease) {
                return Ok(lease);
            }
        }
        anyhow::bail!(
            "no free address left in {}–{} ({})",
            Ipv4Addr::from(first),
            Ipv4Addr::from(last),
            self.name
        )
    }
}
