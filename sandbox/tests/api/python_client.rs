//! The official Python `kubernetes` client against the sandbox (installed by scripts/setup.sh
//! in /opt/cnpgops/venv-kube): core and custom objects, a watch, and a 422 with causes.
use std::process::Command;

use crate::harness::start;

const SCRIPT: &str = r#"
import sys, threading
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
core.create_namespace({"metadata": {"name": "py"}})
names = [n.metadata.name for n in core.list_namespace().items]
assert "py" in names and "default" in names, names
core.create_namespaced_config_map("py", {"metadata": {"name": "c", "labels": {"team": "a"}}, "data": {"k": "v"}})
core.patch_namespaced_config_map("c", "py", {"data": {"k": "w"}})
assert core.read_namespaced_config_map("c", "py").data == {"k": "w"}
w = watch.Watch()
seen = [e["type"] + " " + e["object"].metadata.name for e in w.stream(core.list_namespaced_config_map, "py", label_selector="team=a", timeout_seconds=1)]
assert seen == ["ADDED c"], seen
custom = client.CustomObjectsApi()
cluster = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "pg"}, "spec": {"instances": "three", "storage": {"size": "1Gi"}}}
try:
    custom.create_namespaced_custom_object("postgresql.cnpg.io", "v1", "py", "clusters", cluster)
    raise SystemExit("an invalid Cluster was accepted")
except ApiException as e:
    assert e.status == 422, e.status
    assert "spec.instances" in e.body, e.body
try:
    core.read_namespaced_config_map("missing", "py")
except ApiException as e:
    assert e.status == 404 and e.reason == "Not Found", (e.status, e.reason)
print("python client ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_works_unchanged() {
    let w = start().await;
    let python = std::env::var("CNPGOPS_KUBE_VENV")
        .unwrap_or_else(|_| "/opt/cnpgops/venv-kube".into())
        + "/bin/python";
    let kc = w.sandbox.kubeconfig_path();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(kc)
            .output()
            .expect("the kube venv exists (scripts/setup.sh)")
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("python client ok"),
        "{stdout}\n{stderr}"
    );
}
