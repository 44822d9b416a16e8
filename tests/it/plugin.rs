//! The kubectl plugin (issue 14, item 10): `scripts/release.sh --binary` packages a binary as
//! the krew manifest says (archive name, `kubectl-cnpgops` inside, sha256 written into the
//! manifest), and the packaged binary runs as `kubectl cnpgops` with its usage named so.

use std::process::Command;

use crate::harness::{bin, root};

fn sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn the_release_archive_is_what_the_krew_manifest_points_at_and_runs_as_kubectl_cnpgops() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("cnpgops.yaml");
    std::fs::copy(root().join("deploy/krew/cnpgops.yaml"), &manifest).unwrap();
    let out = Command::new(root().join("scripts/release.sh"))
        .args(["--binary", bin()])
        .env("DIST_DIR", dir.path().join("dist"))
        .env("KREW_MANIFEST", &manifest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let plugin: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(plugin["kind"], "Plugin");
    let platform = &plugin["spec"]["platforms"][0];
    assert_eq!(platform["bin"], "kubectl-cnpgops");
    let uri = platform["uri"].as_str().unwrap();
    let name = uri.rsplit('/').next().unwrap();
    let archive = dir.path().join("dist").join(name);
    assert!(archive.exists(), "{uri} was built: {stderr}");
    assert_eq!(
        platform["sha256"],
        sha256(&archive),
        "the manifest's sha256"
    );
    let version = plugin["spec"]["version"].as_str().unwrap();
    assert_eq!(version, format!("v{}", env!("CARGO_PKG_VERSION")));
    assert!(uri.contains(&format!("/download/{version}/")), "{uri}");

    let unpacked = dir.path().join("plugin");
    std::fs::create_dir(&unpacked).unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    let help = Command::new(unpacked.join("kubectl-cnpgops"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Usage: kubectl cnpgops"), "{text}");
    // Through kubectl itself when it is installed: it finds `kubectl-cnpgops` on PATH.
    let path = format!("{}:{}", unpacked.display(), std::env::var("PATH").unwrap());
    if let Ok(out) = Command::new("kubectl")
        .args(["cnpgops", "runbooks", "list"])
        .env("PATH", path)
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("refresh-dev"), "{text}");
    }
}
