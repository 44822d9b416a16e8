//! The sandbox cluster's PKI: one CA for serving and client certificates (as kubeadm's
//! `ca.crt`), the ServiceAccount signing key, and a certificate per component, written under
//! `DIR/pki` as PEM files the real binaries read.
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key on disk.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Who a client certificate says it is: the CN is the user, each O a group.
pub struct Identity<'a> {
    pub user: &'a str,
    pub groups: &'a [&'a str],
}

/// The CA, able to issue more certificates (the node agent asks for its serving certificate).
pub struct Pki {
    pub dir: PathBuf,
    pub ca: CertFiles,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// A fresh CA and ServiceAccount key under `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<Pki> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "cnpgops-sandbox-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        let ca = write_pair(dir, "ca", &cert.pem(), &key.serialize_pem())?;
        // The ServiceAccount token signing key and its public half (the apiserver verifies
        // tokens with a public key file; a private key is refused there).
        let sa = KeyPair::generate()?;
        write(&dir.join("sa.key"), &sa.serialize_pem())?;
        write(&dir.join("sa.pub"), &sa.public_key_pem())?;
        Ok(Pki {
            dir: dir.to_path_buf(),
            ca,
            issuer: Issuer::new(params, key),
        })
    }

    /// The ServiceAccount signing key (private).
    pub fn sa_key(&self) -> PathBuf {
        self.dir.join("sa.key")
    }

    /// The ServiceAccount verification key (public).
    pub fn sa_pub(&self) -> PathBuf {
        self.dir.join("sa.pub")
    }

    /// A serving certificate for `names` (DNS names or IP addresses).
    pub fn serving(&self, file: &str, cn: &str, names: &[String]) -> anyhow::Result<CertFiles> {
        self.issue(file, cn, &[], names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate for `who`.
    pub fn client(&self, file: &str, who: &Identity) -> anyhow::Result<CertFiles> {
        self.issue(
            file,
            who.user,
            who.groups,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn issue(
        &self,
        file: &str,
        cn: &str,
        groups: &[&str],
        names: &[String],
        usage: ExtendedKeyUsagePurpose,
    ) -> anyhow::Result<CertFiles> {
        let key = KeyPair::generate()?;
        let cert = leaf(cn, groups, names, usage)?.signed_by(&key, &self.issuer)?;
        write_pair(&self.dir, file, &cert.pem(), &key.serialize_pem())
    }
}

/// A self-signed certificate for `cn` with `names` (DNS names or IP addresses) and `usage`, as
/// cert-manager's selfSigned Issuer makes one: its own issuer, so a peer that trusts exactly this
/// certificate accepts it. Written as `dir/<file>.{crt,key}`.
pub fn self_signed(
    dir: &Path,
    file: &str,
    cn: &str,
    names: &[String],
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<CertFiles> {
    let key = KeyPair::generate()?;
    let cert = leaf(cn, &[], names, usage)?.self_signed(&key)?;
    write_pair(dir, file, &cert.pem(), &key.serialize_pem())
}

/// What a leaf certificate says: its CN, each group an O, its names and its one usage.
fn leaf(
    cn: &str,
    groups: &[&str],
    names: &[String],
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(names.to_vec())
        .with_context(|| format!("invalid certificate names {names:?}"))?;
    params.distinguished_name.push(DnType::CommonName, cn);
    for g in groups {
        params.distinguished_name.push(DnType::OrganizationName, *g);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    Ok(params)
}

/// The names a serving certificate for the apiserver carries.
pub fn apiserver_names(addresses: &[IpAddr], service_ip: IpAddr) -> Vec<String> {
    let mut names: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    names.push(service_ip.to_string());
    names.push("127.0.0.1".into());
    names.push("localhost".into());
    for n in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        names.push(n.into());
    }
    names
}

fn write_pair(dir: &Path, name: &str, cert: &str, key: &str) -> anyhow::Result<CertFiles> {
    let files = CertFiles {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    write(&files.cert, cert)?;
    write(&files.key, key)?;
    Ok(files)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// openssl (not rcgen) reads back what was issued: the chain verifies and the subject says
    /// the user and the group the apiserver will see.
    #[test]
    fn openssl_verifies_a_client_certificate_and_reads_its_groups() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(dir.path()).unwrap();
        let who = Identity {
            user: "alice",
            groups: &["system:masters"],
        };
        let c = pki.client("alice", &who).unwrap();
        let verify = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&pki.ca.cert)
            .arg(&c.cert)
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stderr)
        );
        let subject = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&c.cert)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&subject.stdout);
        assert!(
            s.contains("CN = alice") && s.contains("O = system:masters"),
            "{s}"
        );
    }
}
