//! The independent-client check: a real kubectl against the sandbox (discovery, client-side and
//! server-side apply, get -o yaml, get -w, delete --wait of a ConfigMap, a Cluster, a namespace).
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::start;

fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(kubeconfig.with_file_name("kube-cache"))
        .args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("kubectl is installed (scripts/setup.sh checks it)");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(out: Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        text
    );
    text
}

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: kctl
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: kctl
data:
  mode: "one"
---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: app-cnpg
  namespace: kctl
spec:
  instances: 1
  storage:
    size: 1Gi
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_the_sandbox() {
    let w = start().await;
    let kc = w.sandbox.kubeconfig_path();
    let kc2 = kc.clone();
    tokio::task::spawn_blocking(move || {
        let raw = ok(kubectl(&kc2, &["get", "--raw", "/apis"], None));
        assert!(raw.contains("postgresql.cnpg.io"), "{raw}");
        let applied = ok(kubectl(&kc2, &["apply", "-f", "-"], Some(MANIFESTS)));
        assert!(
            applied.contains("cluster.postgresql.cnpg.io/app-cnpg created"),
            "{applied}"
        );
        let again = ok(kubectl(
            &kc2,
            &["apply", "-f", "-"],
            Some(&MANIFESTS.replace("\"one\"", "\"two\"")),
        ));
        assert!(
            again.contains("configmap/settings configured")
                && again.contains("cluster.postgresql.cnpg.io/app-cnpg unchanged"),
            "{again}"
        );
        let table = ok(kubectl(
            &kc2,
            &["-n", "kctl", "get", "configmap", "settings"],
            None,
        ));
        assert!(
            table.starts_with("NAME") && table.contains("DATA") && table.contains("AGE"),
            "{table}"
        );
        let yaml = ok(kubectl(
            &kc2,
            &["-n", "kctl", "get", "configmap", "settings", "-o", "yaml"],
            None,
        ));
        assert!(
            yaml.contains("mode: two") && yaml.contains("last-applied-configuration"),
            "{yaml}"
        );
        // Moving from client-side to server-side apply: the same values change hands quietly...
        let same = MANIFESTS
            .replace("\"one\"", "\"two\"")
            .replace("mode:", "extra: \"x\"\n  mode:");
        let ssa = ok(kubectl(
            &kc2,
            &["apply", "--server-side", "-f", "-"],
            Some(&same),
        ));
        assert!(
            ssa.contains("configmap/settings serverside-applied"),
            "{ssa}"
        );
        // ...a different value owned by another manager is a conflict, unless forced.
        let more = same.replace("instances: 1", "instances: 2");
        let conflict = kubectl(
            &kc2,
            &["apply", "--server-side", "--field-manager=other", "-f", "-"],
            Some(&more),
        );
        assert!(
            !conflict.status.success()
                && String::from_utf8_lossy(&conflict.stderr).contains("conflict"),
            "{}",
            String::from_utf8_lossy(&conflict.stderr)
        );
        ok(kubectl(
            &kc2,
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "--force-conflicts",
                "-f",
                "-",
            ],
            Some(&more),
        ));
        let table = ok(kubectl(
            &kc2,
            &["-n", "kctl", "get", "clusters.postgresql.cnpg.io"],
            None,
        ));
        assert!(
            table.contains("INSTANCES") && table.contains("app-cnpg"),
            "{table}"
        );
        let instances = ok(kubectl(
            &kc2,
            &[
                "-n",
                "kctl",
                "get",
                "cluster",
                "app-cnpg",
                "-o",
                "jsonpath={.spec.instances}",
            ],
            None,
        ));
        assert_eq!(instances, "2");
        // Invalid: kubectl sends fieldValidation=Strict, the server answers like kube-apiserver.
        let bad = kubectl(
            &kc2,
            &["apply", "-f", "-"],
            Some(&MANIFESTS.replace("instances: 1", "instances: three")),
        );
        assert!(!bad.status.success());
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("spec.instances"),
            "{}",
            String::from_utf8_lossy(&bad.stderr)
        );
    })
    .await
    .unwrap();

    // get -w sees a change made while it watches.
    let kc3 = kc.clone();
    let watcher = std::thread::spawn(move || {
        kubectl(
            &kc3,
            &[
                "-n",
                "kctl",
                "get",
                "configmaps",
                "-w",
                "--request-timeout=4s",
                "-o",
                "name",
            ],
            None,
        )
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let kc4 = kc.clone();
    tokio::task::spawn_blocking(move || {
        ok(kubectl(
            &kc4,
            &[
                "-n",
                "kctl",
                "create",
                "configmap",
                "late",
                "--from-literal=a=b",
                "-o",
                "name",
                "--dry-run=client",
            ],
            None,
        ))
    })
    .await
    .unwrap();
    let late = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: kctl\n";
    let kc5 = kc.clone();
    tokio::task::spawn_blocking(move || ok(kubectl(&kc5, &["apply", "-f", "-"], Some(late))))
        .await
        .unwrap();
    let watched = String::from_utf8_lossy(&watcher.join().unwrap().stdout).to_string();
    assert!(
        watched.contains("configmap/settings") && watched.contains("configmap/late"),
        "{watched}"
    );

    let kc6 = kc.clone();
    tokio::task::spawn_blocking(move || {
        ok(kubectl(
            &kc6,
            &[
                "-n",
                "kctl",
                "delete",
                "configmap",
                "settings",
                "--wait",
                "--timeout=20s",
            ],
            None,
        ));
        ok(kubectl(
            &kc6,
            &[
                "-n",
                "kctl",
                "delete",
                "cluster",
                "app-cnpg",
                "--wait",
                "--timeout=20s",
            ],
            None,
        ));
        ok(kubectl(
            &kc6,
            &["delete", "namespace", "kctl", "--wait", "--timeout=20s"],
            None,
        ));
        let gone = kubectl(&kc6, &["get", "namespace", "kctl"], None);
        assert!(
            !gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("NotFound")
        );
    })
    .await
    .unwrap();
}
