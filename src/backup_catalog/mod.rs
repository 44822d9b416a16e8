//! The barman-cloud object-store catalog, read with aws-sdk-s3: which backups exist, how far the
//! WAL archive reaches per timeline, and the recoverability window.
//!
//! - [`store`]: a Cluster's spec -> its store (in-tree `barmanObjectStore` or the barman-cloud
//!   plugin and its `ObjectStore`), pure.
//! - [`locate`]: reads the Cluster, ObjectStore and credential Secrets; connects.
//! - [`layout`]: keys (`<prefix>/<server>/base|wals/`) and WAL name math.
//! - [`backup_info`]: the `backup.info` parser.
//! - [`base`]: every base backup (missing or failed ones shown, never chosen).
//! - [`cache`]: `backup.info` texts kept locally by ETag, so a repeated read costs listings only.
//! - [`wal`]: the WAL archive extent per timeline, without listing every WAL.
//! - [`window`]: earliest and latest recoverable time.
//! - [`target`]: restore targets (`--target-time`, `--backup-id`, `--latest`) checked, pure.
//! - [`cnpg`]: CNPG's own view (Backup resources, recoverability fields) and disagreements.
//! - [`s3`]: the S3 client: retries with backoff, a request counter.
//!
//! Cost of [`read`]: one listing of `base/` (per 1,000 objects), one GET per `backup.info` not
//! cached at its current ETag, one listing of `wals/` (per 1,000 directories, i.e. per 256,000
//! segments), and two or three per timeline. Never a listing of every WAL.

pub(crate) mod backup_info;
pub(crate) mod base;
pub(crate) mod cache;
pub(crate) mod cnpg;
pub(crate) mod error;
pub(crate) mod layout;
pub(crate) mod locate;
pub(crate) mod s3;
pub(crate) mod store;
pub(crate) mod target;
pub(crate) mod wal;
pub(crate) mod window;

use serde::Serialize;

pub(crate) use base::Backup;
pub(crate) use error::CatalogError;
pub(crate) use locate::{connect, locate, Located};
pub(crate) use wal::Archive;
pub(crate) use window::Window;

use layout::Layout;

/// What the object store holds for one server.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BackupCatalog {
    /// `s3://bucket/prefix/server`.
    pub url: String,
    pub backups: Vec<Backup>,
    pub archive: Archive,
    /// `None` when no backup is usable.
    pub window: Option<Window>,
    /// S3 requests this read sent (retries included).
    pub requests: u64,
}

impl BackupCatalog {
    /// The backups a restore may start from.
    pub(crate) fn usable(&self) -> impl Iterator<Item = &Backup> {
        self.backups.iter().filter(|b| b.usable())
    }
}

/// Reads the catalog of `layout` (base backups and WAL extent at the same time).
pub(crate) async fn read(
    s3: &s3::S3,
    layout: &Layout,
    cache: &mut cache::Cache,
) -> Result<BackupCatalog, CatalogError> {
    let before = s3.requests();
    let wals = layout.wals();
    let (backups, archive) = tokio::try_join!(base::read(s3, layout, cache), wal::read(s3, &wals))?;
    let window = window::compute(&backups, &archive);
    Ok(BackupCatalog {
        url: layout.url(),
        backups,
        archive,
        window,
        requests: s3.requests() - before,
    })
}
