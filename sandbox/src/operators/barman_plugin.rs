//! The barman-cloud CNPG-I plugin v0.14.0 (`github.com/cloudnative-pg/plugin-barman-cloud`,
//! built by `world/build.sh plugin`), installed with the real operator from the module's own
//! `manifest.yaml`: its ObjectStore CRD, RBAC, the `barman-cloud` Deployment (a Pod of the node
//! agent) and the `barman-cloud` Service whose `cnpg.io/pluginName` label and
//! `cnpg.io/plugin{ClientSecret,ServerSecret,Port}` annotations make CloudNativePG register the
//! plugin. CloudNativePG then calls its lifecycle hook to inject the sidecar into instance Pods
//! and recovery Jobs; the sidecar archives WAL and takes backups with barman-cloud.
//!
//! Simulated: cert-manager. The manifest's `Issuer` (selfSigned) and two `Certificate`s would
//! have cert-manager write the mTLS Secrets `barman-cloud-server-tls` and
//! `barman-cloud-client-tls`; cert-manager cannot run here (no image, not built), so those
//! objects are dropped and the Secrets are written from the sandbox's own PKI code instead,
//! self-signed as that Issuer makes them, with what cert-manager puts in them (`tls.crt`,
//! `tls.key`, `ca.crt`) and the Certificates' names and usages.
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use rcgen::ExtendedKeyUsagePurpose;

use crate::control_plane::pki::{self_signed, Pki};

/// The plugin's namespace (the manifest's, CloudNativePG's operator namespace).
pub const NAMESPACE: &str = "cnpg-system";
/// The Deployment and Service the manifest names.
pub const NAME: &str = "barman-cloud";
/// The plugin's name as Clusters refer to it.
pub const PLUGIN_NAME: &str = "barman-cloud.cloudnative-pg.io";

/// Where `world/build.sh plugin` puts the binary and the manifest.
pub fn dir() -> PathBuf {
    crate::control_plane::binaries::opt_dir().join("plugin-barman-cloud-0.14.0")
}

/// The module's manifest without its cert-manager objects, plus the TLS Secrets those would
/// have produced, written under `out`; the path of what to apply.
pub fn prepare(pki: &Pki, out: &Path) -> anyhow::Result<PathBuf> {
    let source = dir().join("manifest.yaml");
    let text = std::fs::read_to_string(&source).with_context(|| {
        format!(
            "{} is missing: run scripts/setup.sh (world/build.sh plugin)",
            source.display()
        )
    })?;
    let mut docs = without_cert_manager(&text);
    for secret in secrets(pki)? {
        docs.push(serde_json::to_string_pretty(&secret)?);
    }
    let path = out.join("plugin-barman-cloud.yaml");
    std::fs::write(&path, docs.join("\n---\n"))
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(path)
}

/// The manifest's documents, those of the `cert-manager.io` group dropped.
fn without_cert_manager(manifest: &str) -> Vec<String> {
    manifest
        .split("\n---")
        .map(|d| d.trim_start_matches('-').trim().to_string())
        .filter(|d| !d.is_empty())
        .filter(|d| {
            !d.lines()
                .any(|l| l.trim_start().starts_with("apiVersion: cert-manager.io/"))
        })
        .collect()
}

/// The Secrets of the manifest's two Certificates, self-signed as its selfSigned Issuer makes
/// them: the server's for the Service's names (`barman-cloud`, as the Certificate says, and the
/// longer names of the Service), the client's for `barman-cloud-client`; `ca.crt` is the
/// certificate itself. Self-signed matters: the plugin's server asks for a client certificate
/// issued by the subject of its `--client-cert`, and Go's client sends none that is not.
fn secrets(pki: &Pki) -> anyhow::Result<Vec<serde_json::Value>> {
    let names: Vec<String> = [
        "",
        ".cnpg-system",
        ".cnpg-system.svc",
        ".cnpg-system.svc.cluster.local",
    ]
    .iter()
    .map(|s| format!("{NAME}{s}"))
    .collect();
    let server = self_signed(
        &pki.dir,
        "plugin-barman-cloud-server",
        NAME,
        &names,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let client = self_signed(
        &pki.dir,
        "plugin-barman-cloud-client",
        "barman-cloud-client",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    [
        ("barman-cloud-server-tls", server),
        ("barman-cloud-client-tls", client),
    ]
    .into_iter()
    .map(|(name, files)| {
        let cert = read(&files.cert)?;
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "stringData": {"tls.crt": cert, "tls.key": read(&files.key)?, "ca.crt": cert},
        }))
    })
    .collect()
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_manager_objects_are_dropped_and_the_rest_kept() {
        let manifest = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: cert-manager.io/v1\nkind: Issuer\n---\napiVersion: apps/v1\nkind: Deployment\n";
        let docs = without_cert_manager(manifest);
        assert_eq!(docs.len(), 2);
        assert!(docs[0].contains("kind: Service"));
        assert!(docs[1].contains("kind: Deployment"));
    }
}
