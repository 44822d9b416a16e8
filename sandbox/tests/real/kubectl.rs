//! The real kubectl against the real control plane: generators (protobuf bodies), RBAC
//! introspection, /version, and the controllers doing their work.
use crate::harness::Cp;

#[test]
fn version_tells_the_truth() {
    let cp = Cp::start();
    let v: serde_json::Value = serde_json::from_str(&cp.ok(&["get", "--raw", "/version"])).unwrap();
    assert_eq!(v["gitVersion"], "v1.36.3", "{v}");
    assert_eq!(v["minor"], "36");
}

#[test]
fn create_namespace_and_job_and_the_controllers_act() {
    let cp = Cp::start();
    cp.ok(&["create", "namespace", "team-a"]);
    // The serviceaccount controller gives the namespace its default ServiceAccount and the
    // root-CA publisher its kube-root-ca.crt.
    cp.eventually(
        &[
            "-n",
            "team-a",
            "get",
            "serviceaccount",
            "default",
            "-o",
            "name",
        ],
        "serviceaccount/default",
        60,
    );
    cp.eventually(
        &[
            "-n",
            "team-a",
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-o",
            "name",
        ],
        "configmap/kube-root-ca.crt",
        60,
    );
    cp.ok(&[
        "-n",
        "team-a",
        "create",
        "job",
        "hello",
        "--image=busybox",
        "--",
        "echo",
        "hi",
    ]);
    // The job controller creates the Pod (it stays Pending: no node has been registered).
    cp.eventually(
        &[
            "-n",
            "team-a",
            "get",
            "pods",
            "-l",
            "job-name=hello",
            "-o",
            "jsonpath={.items[*].metadata.ownerReferences[0].name}",
        ],
        "hello",
        60,
    );
    // Foreground deletion: the garbage collector removes the Pod, then the Job.
    cp.ok(&[
        "-n",
        "team-a",
        "delete",
        "job",
        "hello",
        "--cascade=foreground",
        "--wait=true",
        "--timeout=60s",
    ]);
    let left = cp.ok(&[
        "-n",
        "team-a",
        "get",
        "pods",
        "-l",
        "job-name=hello",
        "-o",
        "name",
    ]);
    assert_eq!(left.trim(), "", "the Job's Pod was collected");
}

#[test]
fn auth_can_i_lists_the_admin_rules() {
    let cp = Cp::start();
    let list = cp.ok(&["auth", "can-i", "--list"]);
    assert!(
        list.contains("*.*"),
        "system:masters can do everything: {list}"
    );
    let sa = cp.kubectl(&[
        "auth",
        "can-i",
        "create",
        "pods",
        "--as",
        "system:serviceaccount:default:default",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&sa.stdout).trim(),
        "no",
        "RBAC denies a plain ServiceAccount"
    );
}
