//! One control plane per test, on its own runtime, with kubectl pointed at it.
use std::process::{Command, Output};

use cnpgops_sandbox::control_plane::ControlPlane;

pub struct Cp {
    pub rt: tokio::runtime::Runtime,
    pub cp: Option<ControlPlane>,
    pub dir: tempfile::TempDir,
}

impl Cp {
    pub fn start() -> Cp {
        let (rt, dir) = fresh();
        let cp = rt
            .block_on(ControlPlane::start(dir.path()))
            .expect("the control plane starts");
        Cp {
            rt,
            cp: Some(cp),
            dir,
        }
    }

    pub fn cp(&self) -> &ControlPlane {
        self.cp.as_ref().unwrap()
    }

    /// Loads the sandbox's CRDs (CloudNativePG's own, the plugin's, Argo CD's).
    pub fn load_crds(&self) {
        let client = self.cp().client.clone();
        for from in cnpgops_sandbox::server::crd_sources() {
            self.rt
                .block_on(cnpgops_sandbox::control_plane::crds::load_dir(
                    &client, &from,
                ))
                .expect("CRDs load");
        }
    }

    /// Runs the real kubectl against this control plane.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl(&self.cp().kubeconfig, self.dir.path(), args)
    }

    /// kubectl's stdout, failing the test with its stderr if it failed.
    pub fn ok(&self, args: &[&str]) -> String {
        ok(self.kubectl(args), args)
    }

    /// kubectl's stderr, failing the test if kubectl succeeded.
    pub fn refused(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Waits up to `secs` for kubectl `args` to print something containing `want`.
    pub fn eventually(&self, args: &[&str], want: &str, secs: u64) -> String {
        let t0 = std::time::Instant::now();
        loop {
            let out = self.kubectl(args);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains(want) {
                return text;
            }
            assert!(
                t0.elapsed().as_secs() < secs,
                "kubectl {args:?} never showed {want:?} within {secs}s; last: {text}{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
}

impl Cp {
    /// The tail of every component's log (for failure messages).
    pub fn logs(&self) -> String {
        let dir = self.dir.path().join("logs");
        let mut out = String::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let tail = cnpgops_sandbox::control_plane::process::tail(&e.path(), 20);
            out.push_str(&format!("--- {}\n{tail}\n", e.path().display()));
        }
        out
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        if let Some(cp) = self.cp.take() {
            self.rt.block_on(cp.stop());
        }
    }
}

/// Runs the real kubectl with `kubeconfig`, a clean environment and `home` as HOME.
pub fn kubectl(kubeconfig: &std::path::Path, home: &std::path::Path, args: &[&str]) -> Output {
    Command::new("kubectl")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// The stdout of a kubectl run, failing the test with its stderr if it failed.
pub fn ok(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A two-thread runtime (the sandbox's controllers block on their writes) and a fresh directory.
pub fn fresh() -> (tokio::runtime::Runtime, tempfile::TempDir) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    (rt, tempfile::tempdir().unwrap())
}

/// The decoded value of `key` in Secret `ns/name`, read with kubectl.
pub fn secret(
    kubeconfig: &std::path::Path,
    home: &std::path::Path,
    ns: &str,
    name: &str,
    key: &str,
) -> Vec<u8> {
    let path = format!("jsonpath={{.data.{}}}", key.replace('.', "\\."));
    let args = ["-n", ns, "get", "secret", name, "-o", path.as_str()];
    let b64 = ok(kubectl(kubeconfig, home, &args), &args);
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap_or_else(|e| panic!("{ns}/{name} key {key}: {e}"))
}
