//! An oracle for Pod Security Standards `restricted` (latest), written from the standard's
//! text (kubernetes.io/docs/concepts/security/pod-security-standards), not from cnpgops' code:
//! every baseline and restricted control that a Pod spec can break, each broken one named.
//! Used by the Job builder's unit tests (`#[path]`) and by the integration tests on the Job
//! the server holds. When the sandbox runs the real kube-apiserver, a namespace labelled
//! `pod-security.kubernetes.io/enforce: restricted` is the oracle too.

use serde_json::Value;

/// The volume types `restricted` allows.
const VOLUME_TYPES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];
/// Sysctls baseline allows.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

/// Every violation of `restricted` in a Pod spec (`spec` of a Pod or a Job's template).
pub(crate) fn violations(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let pod_sc = &spec["securityContext"];
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(&spec[host]) {
            out.push(format!("{host} is true"));
        }
    }
    if is_true(&pod_sc["windowsOptions"]["hostProcess"]) {
        out.push("pod windowsOptions.hostProcess".into());
    }
    for sysctl in pod_sc["sysctls"].as_array().into_iter().flatten() {
        let name = sysctl["name"].as_str().unwrap_or_default();
        if !SAFE_SYSCTLS.contains(&name) {
            out.push(format!("unsafe sysctl {name}"));
        }
    }
    selinux(&pod_sc["seLinuxOptions"], "pod", &mut out);
    apparmor(&pod_sc["appArmorProfile"], "pod", &mut out);
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap_or_default();
        let kinds: Vec<&String> = volume
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .filter(|k| *k != "name")
            .collect();
        for kind in kinds {
            if !VOLUME_TYPES.contains(&kind.as_str()) {
                out.push(format!("volume {name} is of type {kind}"));
            }
        }
    }
    let pod_non_root = is_true(&pod_sc["runAsNonRoot"]);
    if pod_sc["runAsUser"].as_i64() == Some(0) {
        out.push("pod runAsUser is 0".into());
    }
    let pod_seccomp = seccomp_ok(&pod_sc["seccompProfile"]);
    if pod_sc["seccompProfile"].is_object() && !pod_seccomp {
        out.push("pod seccompProfile is not RuntimeDefault/Localhost".into());
    }
    for kind in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec[kind].as_array().into_iter().flatten() {
            container(c, pod_non_root, pod_seccomp, &mut out);
        }
    }
    out
}

fn container(c: &Value, pod_non_root: bool, pod_seccomp: bool, out: &mut Vec<String>) {
    let name = c["name"].as_str().unwrap_or("?");
    let sc = &c["securityContext"];
    let bad = |what: &str| format!("container {name}: {what}");
    if is_true(&sc["privileged"]) {
        out.push(bad("privileged"));
    }
    if is_true(&sc["windowsOptions"]["hostProcess"]) {
        out.push(bad("windowsOptions.hostProcess"));
    }
    if sc["allowPrivilegeEscalation"].as_bool() != Some(false) {
        out.push(bad("allowPrivilegeEscalation is not false"));
    }
    let non_root = match sc["runAsNonRoot"].as_bool() {
        Some(v) => v,
        None => pod_non_root,
    };
    if !non_root {
        out.push(bad(
            "runAsNonRoot is not true (neither here nor on the pod)",
        ));
    }
    if sc["runAsUser"].as_i64() == Some(0) {
        out.push(bad("runAsUser is 0"));
    }
    let seccomp = &sc["seccompProfile"];
    if (seccomp.is_object() && !seccomp_ok(seccomp)) || (!seccomp.is_object() && !pod_seccomp) {
        out.push(bad("seccompProfile is not RuntimeDefault/Localhost"));
    }
    let drops: Vec<&str> = sc["capabilities"]["drop"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !drops.contains(&"ALL") {
        out.push(bad("capabilities.drop does not contain ALL"));
    }
    for add in sc["capabilities"]["add"].as_array().into_iter().flatten() {
        if add.as_str() != Some("NET_BIND_SERVICE") {
            out.push(bad(&format!("adds capability {add}")));
        }
    }
    for port in c["ports"].as_array().into_iter().flatten() {
        if port["hostPort"].as_i64().unwrap_or(0) != 0 {
            out.push(bad("hostPort set"));
        }
    }
    if sc["procMount"].as_str().is_some_and(|m| m != "Default") {
        out.push(bad("procMount is not Default"));
    }
    selinux(&sc["seLinuxOptions"], name, out);
    apparmor(&sc["appArmorProfile"], name, out);
}

fn seccomp_ok(profile: &Value) -> bool {
    matches!(
        profile["type"].as_str(),
        Some("RuntimeDefault") | Some("Localhost")
    )
}

fn selinux(options: &Value, whose: &str, out: &mut Vec<String>) {
    let allowed = [
        "container_t",
        "container_init_t",
        "container_kvm_t",
        "container_engine_t",
    ];
    if let Some(t) = options["type"].as_str() {
        if !t.is_empty() && !allowed.contains(&t) {
            out.push(format!("{whose}: seLinuxOptions.type {t}"));
        }
    }
    for field in ["user", "role"] {
        if options[field].as_str().is_some_and(|s| !s.is_empty()) {
            out.push(format!("{whose}: seLinuxOptions.{field} set"));
        }
    }
}

fn apparmor(profile: &Value, whose: &str, out: &mut Vec<String>) {
    if profile["type"].as_str() == Some("Unconfined") {
        out.push(format!("{whose}: appArmorProfile Unconfined"));
    }
}

/// The oracle rejects what `restricted` rejects (so it can fail).
#[test]
fn the_oracle_rejects_a_default_pod() {
    let root: Value = serde_json::json!({
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "image": "x", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}],
    });
    let found = violations(&root);
    for expected in [
        "hostPath",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccompProfile",
        "drop does not contain ALL",
        "SYS_ADMIN",
    ] {
        assert!(
            found.iter().any(|v| v.contains(expected)),
            "{expected} not in {found:?}"
        );
    }
}
