//! The independent-client check: a real kubectl against the sandbox (discovery, client-side and
//! server-side apply, get -o yaml, get -w, delete --wait of a ConfigMap, a Cluster, a namespace;
//! run, wait, logs -f, rollout status, port-forward through the node agent).
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

    // get -w sees a change made while it watches: the watch runs until `late` shows up (or a
    // minute passes), however slowly kubectl starts on a loaded machine.
    let mut watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "-n",
            "kctl",
            "get",
            "configmaps",
            "-w",
            "--request-timeout=60s",
            "-o",
            "name",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl runs");
    let out = watch.stdout.take().unwrap();
    let watcher = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line == "configmap/late" {
                break;
            }
        }
        seen
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
    let watched = watcher.join().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
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

/// What an SRE types on a cluster, against the real apiserver and the node agent: `run`,
/// `wait`, `logs -f`, `rollout status`, `port-forward`.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_runs_waits_follows_logs_rolls_out_and_port_forwards() {
    let w = start().await;
    let kc = w.sandbox.kubeconfig_path();
    let k = |args: &[&str]| ok(kubectl(&kc, args, None));
    k(&["create", "namespace", "ops"]);
    // `run` a Pod that prints a line a second for 3 s; `logs -f` follows it to its end.
    let script = "for i in 1 2 3; do echo tick $i; sleep 1; done";
    for _ in 0..100 {
        // The default ServiceAccount appears a moment after the namespace.
        if kubectl(&kc, &["-n", "ops", "get", "sa", "default"], None)
            .status
            .success()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    k(&[
        "-n",
        "ops",
        "run",
        "ticker",
        "--image=busybox",
        "--restart=Never",
        "--command",
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    k(&[
        "-n",
        "ops",
        "wait",
        "--for=jsonpath={.status.phase}=Running",
        "pod/ticker",
        "--timeout=60s",
    ]);
    let followed = k(&["-n", "ops", "logs", "-f", "ticker"]);
    assert_eq!(
        followed, "tick 1\ntick 2\ntick 3\n",
        "logs -f follows to the end"
    );
    k(&[
        "-n",
        "ops",
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/ticker",
        "--timeout=60s",
    ]);
    assert_eq!(k(&["-n", "ops", "logs", "ticker", "--tail=1"]), "tick 3\n");

    // A Deployment rolls out through the real deployment and replicaset controllers.
    k(&[
        "-n",
        "ops",
        "create",
        "deployment",
        "web",
        "--image=ghcr.io/example/web:1",
        "--replicas=2",
    ]);
    let status = k(&[
        "-n",
        "ops",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=90s",
    ]);
    assert!(status.contains("successfully rolled out"), "{status}");

    // port-forward through the apiserver to a process listening in a Pod.
    // Pods share the host's network here: the listener takes a free port and logs it.
    let server = "import socket\ns=socket.socket()\ns.bind(('127.0.0.1', 0)); s.listen()\nprint(s.getsockname()[1], flush=True)\nwhile True:\n  c,_=s.accept(); c.sendall(b'hello from the pod\\n'); c.close()\n";
    k(&[
        "-n",
        "ops",
        "run",
        "listener",
        "--image=python",
        "--restart=Never",
        "--command",
        "--",
        "python3",
        "-c",
        server,
    ]);
    k(&[
        "-n",
        "ops",
        "wait",
        "--for=condition=Ready",
        "pod/listener",
        "--timeout=60s",
    ]);
    let mut port = String::new();
    for _ in 0..100 {
        port = k(&["-n", "ops", "logs", "listener"]).trim().to_string();
        if !port.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let local = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ports = format!("{local}:{port}");
    let mut pf = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["-n", "ops", "port-forward", "pod/listener", &ports])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", local)) {
            use std::io::Read;
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read_to_string(&mut got);
            if !got.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = pf.kill();
    let out = pf.wait_with_output().unwrap();
    assert_eq!(
        got,
        "hello from the pod\n",
        "port {port}, local {local}; kubectl port-forward said: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
