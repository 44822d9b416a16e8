//! Recovery from the barman object store (`cnpgops restore`, `refresh-dev --method recovery`):
//! the logic behind the `restore.plan` step kind, kept pure where it can be.
//!
//! - [`manifest`]: the recovery Cluster built from a LIVE Cluster's spec: `bootstrap.recovery`
//!   from an `externalClusters` entry pointing at the source's store (same form: in-tree or the
//!   barman-cloud plugin), the recovery target, the app database/owner/secret kept, and its own
//!   archive moved to a new `serverName`.
//! - [`target`]: what the user asked for (`--target-time`, `--target-lsn`, `--backup-id`,
//!   `--latest`) checked against the catalog, as the `recoveryTarget` CNPG reads.
//! - [`argo`]: which Argo CD Application manages a Cluster (tracking annotation or label).

pub(crate) mod argo;
pub(crate) mod manifest;
pub(crate) mod target;
