//! Kubeconfig files for the control plane's clients, certificates embedded so a file can be
//! copied anywhere (cluster, user and context all named `sandbox`).
use std::path::Path;

use anyhow::Context;
use base64::Engine;

use super::pki::CertFiles;

/// The kubeconfig text for `server`, trusting `ca`, authenticating as `user`.
pub fn render(server: &str, ca: &Path, user: &CertFiles) -> anyhow::Result<String> {
    let b64 = |p: &Path| -> anyhow::Result<String> {
        let bytes = std::fs::read(p).with_context(|| format!("failed to read {}", p.display()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    Ok(format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: sandbox\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\ncurrent-context: sandbox\npreferences: {{}}\n",
        b64(ca)?,
        b64(&user.cert)?,
        b64(&user.key)?,
    ))
}

/// Writes `text` to `path` atomically (a reader never sees half a file).
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("failed to rename to {}", path.display()))
}
