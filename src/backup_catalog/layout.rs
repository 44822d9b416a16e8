//! The barman-cloud object-store layout: `destinationPath` -> bucket and prefix, a server's
//! `base/` and `wals/` keys, and WAL file name math (timeline, log, segment, hash directory).
//!
//! Layout (barman `cloud.py`, `xlog.py`):
//! `<prefix>/<server>/base/<backupId>/backup.info` and
//! `<prefix>/<server>/wals/<TLI+LOG, 16 hex>/<24 hex WAL name>[.partial|.<offset>.backup][.gz|...]`;
//! timeline history files `<TLI 8 hex>.history[.gz]` sit directly under `wals/`.

use serde::Serialize;

/// A `destinationPath` split into bucket and key prefix (`s3://bucket/some/prefix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Destination {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl Destination {
    /// Parses `s3://bucket[/prefix]`; other schemes (Azure, Google) are not read here.
    pub(crate) fn parse(path: &str) -> Result<Self, String> {
        let Some(rest) = path.strip_prefix("s3://") else {
            return Err(format!(
                "destinationPath `{path}` is not an s3:// URL (only S3-compatible stores are supported)"
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("destinationPath `{path}` names no bucket"));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }
}

/// The keys of one server's archive inside a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Layout {
    pub destination: Destination,
    pub server: String,
}

impl Layout {
    pub(crate) fn new(destination: Destination, server: &str) -> Self {
        Self {
            destination,
            server: server.to_string(),
        }
    }

    /// `<prefix>/<server>/`.
    pub(crate) fn root(&self) -> String {
        match self.destination.prefix.as_str() {
            "" => format!("{}/", self.server),
            p => format!("{p}/{}/", self.server),
        }
    }

    /// `<prefix>/<server>/base/`.
    pub(crate) fn base(&self) -> String {
        format!("{}base/", self.root())
    }

    /// `<prefix>/<server>/wals/`.
    pub(crate) fn wals(&self) -> String {
        format!("{}wals/", self.root())
    }

    /// `<prefix>/<server>/base/<id>/backup.info`.
    #[cfg(test)]
    pub(crate) fn backup_info(&self, id: &str) -> String {
        format!("{}{id}/backup.info", self.base())
    }

    /// `s3://bucket/prefix/server` for messages.
    pub(crate) fn url(&self) -> String {
        format!("s3://{}/{}", self.destination.bucket, self.root())
            .trim_end_matches('/')
            .to_string()
    }
}

/// A WAL segment: timeline, log id and segment number (`TTTTTTTTLLLLLLLLSSSSSSSS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub(crate) struct Segment {
    pub timeline: u32,
    pub log: u32,
    pub seg: u32,
}

/// What a file under `wals/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalFile {
    /// A full segment.
    Segment(Segment),
    /// A `.partial` segment (end of a timeline, promoted standby).
    Partial(Segment),
    /// A `.backup` label written by `pg_backup_stop`.
    BackupLabel(Segment),
    /// A timeline history file.
    History(u32),
}

/// The compression suffixes barman-cloud-wal-archive writes.
const COMPRESSIONS: &[&str] = &[".gz", ".bz2", ".xz", ".snappy", ".zst", ".lz4"];

impl Segment {
    /// Parses a 24-hex WAL name (upper or lower case).
    pub(crate) fn parse(name: &str) -> Option<Self> {
        if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let part = |r: std::ops::Range<usize>| u32::from_str_radix(&name[r], 16).ok();
        Some(Self {
            timeline: part(0..8)?,
            log: part(8..16)?,
            seg: part(16..24)?,
        })
    }

    /// The WAL name as PostgreSQL writes it (upper-case hex).
    pub(crate) fn name(&self) -> String {
        format!("{:08X}{:08X}{:08X}", self.timeline, self.log, self.seg)
    }

    /// The `wals/` sub-directory holding it: timeline and log id (barman `hash_dir`).
    #[cfg(test)]
    pub(crate) fn hash_dir(&self) -> String {
        format!("{:08X}{:08X}", self.timeline, self.log)
    }

    /// The segment holding `lsn` on `timeline` with `segment_size` bytes per segment.
    #[cfg(test)]
    pub(crate) fn of_lsn(timeline: u32, lsn: u64, segment_size: u64) -> Option<Self> {
        if segment_size == 0 {
            return None;
        }
        Some(Self {
            timeline,
            log: u32::try_from(lsn >> 32).ok()?,
            seg: u32::try_from((lsn & 0xFFFF_FFFF) / segment_size).ok()?,
        })
    }

    /// The LSN where this segment starts.
    pub(crate) fn start_lsn(&self, segment_size: u64) -> u64 {
        (u64::from(self.log) << 32) + u64::from(self.seg) * segment_size
    }
}

impl WalFile {
    /// Parses a file name (no directory) found under `wals/`; `None` for anything else.
    pub(crate) fn parse(file: &str) -> Option<Self> {
        let bare = COMPRESSIONS
            .iter()
            .find_map(|c| file.strip_suffix(c))
            .unwrap_or(file);
        if let Some(tli) = bare.strip_suffix(".history") {
            return (tli.len() == 8)
                .then(|| u32::from_str_radix(tli, 16).ok())
                .flatten()
                .map(WalFile::History);
        }
        if let Some(seg) = bare.strip_suffix(".partial") {
            return Segment::parse(seg).map(WalFile::Partial);
        }
        if let Some(label) = bare.strip_suffix(".backup") {
            let (seg, offset) = label.split_once('.')?;
            let offset_ok = offset.len() == 8 && offset.bytes().all(|b| b.is_ascii_hexdigit());
            return offset_ok
                .then(|| Segment::parse(seg))
                .flatten()
                .map(WalFile::BackupLabel);
        }
        Segment::parse(bare).map(WalFile::Segment)
    }

    /// The segment a file belongs to (none for history files).
    pub(crate) fn segment(&self) -> Option<Segment> {
        match self {
            WalFile::Segment(s) | WalFile::Partial(s) | WalFile::BackupLabel(s) => Some(*s),
            WalFile::History(_) => None,
        }
    }
}

/// A hash directory name (`TTTTTTTTLLLLLLLL`) -> its timeline.
pub(crate) fn hash_dir_timeline(dir: &str) -> Option<u32> {
    if dir.len() != 16 || !dir.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(&dir[..8], 16).ok()
}

/// Parses an LSN written as `X/Y` (hex), e.g. `0/3000028`.
pub(crate) fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    (lo <= 0xFFFF_FFFF).then_some((hi << 32) | lo)
}

/// Is `name` a barman backup ID (`YYYYMMDDTHHMMSS`)?
#[cfg(test)]
pub(crate) fn is_backup_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 15
        && b[8] == b'T'
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[9..].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests;
