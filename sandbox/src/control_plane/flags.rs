//! The command lines of etcd, kube-apiserver and kube-controller-manager, as envtest and kwok run
//! them locally (see `../shared/reference/real-control-plane.md`).
use std::net::Ipv4Addr;
use std::path::Path;

use super::lease::{APISERVER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT};
use super::pki::CertFiles;

/// The Service network; the `kubernetes` Service gets its first address.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
pub const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// What the controller manager runs: the controllers a cluster's workloads need, including the
/// endpoints controllers (Pods have addresses on the sandbox network; the node agent resolves
/// Service names to their ready endpoints through each Pod's `/etc/hosts`).
pub const CONTROLLERS: &[&str] = &[
    "cronjob-controller",
    "deployment-controller",
    "disruption-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    // Generic ephemeral volumes: the claim of a Pod's `ephemeral` volume (the refresh Job's
    // dump), which the node agent's provisioner then binds.
    "ephemeral-volume-controller",
    "garbage-collector-controller",
    "job-controller",
    "namespace-controller",
    "persistentvolume-binder-controller",
    "persistentvolume-protection-controller",
    "persistentvolumeclaim-protection-controller",
    "pod-garbage-collector-controller",
    "replicaset-controller",
    "resourcequota-controller",
    "root-ca-certificate-publisher-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "statefulset-controller",
    "ttl-after-finished-controller",
];

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub fn etcd(ip: Ipv4Addr, data: &Path) -> Vec<String> {
    let client = format!("http://{ip}:{ETCD_CLIENT_PORT}");
    let peer = format!("http://{ip}:{ETCD_PEER_PORT}");
    vec![
        "--name=sandbox".into(),
        format!("--data-dir={}", s(data)),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=sandbox={peer}"),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

/// The files the apiserver reads.
pub struct ApiserverFiles<'a> {
    pub ca: &'a Path,
    pub serving: &'a CertFiles,
    pub kubelet_client: &'a CertFiles,
    pub sa_key: &'a Path,
    pub sa_pub: &'a Path,
}

pub fn apiserver(ip: Ipv4Addr, f: &ApiserverFiles) -> Vec<String> {
    vec![
        format!("--etcd-servers=http://{ip}:{ETCD_CLIENT_PORT}"),
        format!("--bind-address={ip}"),
        format!("--advertise-address={ip}"),
        format!("--secure-port={APISERVER_PORT}"),
        format!("--tls-cert-file={}", s(&f.serving.cert)),
        format!("--tls-private-key-file={}", s(&f.serving.key)),
        format!("--client-ca-file={}", s(f.ca)),
        "--authorization-mode=Node,RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", s(f.sa_pub)),
        format!("--service-account-signing-key-file={}", s(f.sa_key)),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        "--allow-privileged=true".into(),
        format!("--kubelet-client-certificate={}", s(&f.kubelet_client.cert)),
        format!("--kubelet-client-key={}", s(&f.kubelet_client.key)),
        format!("--kubelet-certificate-authority={}", s(f.ca)),
        "--kubelet-preferred-address-types=InternalIP".into(),
        // Webhooks and aggregated APIs are called at their Service's endpoints: there is no
        // kube-proxy to route a ClusterIP.
        "--enable-aggregator-routing=true".into(),
        "--profiling=false".into(),
        "--v=0".into(),
    ]
}

pub fn controller_manager(kubeconfig: &Path, ca: &Path, sa_key: &Path) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", s(kubeconfig)),
        "--leader-elect=false".into(),
        "--secure-port=0".into(),
        format!("--service-account-private-key-file={}", s(sa_key)),
        format!("--root-ca-file={}", s(ca)),
        // Each controller acts as its own ServiceAccount (as kubeadm runs it), so RBAC applies.
        "--use-service-account-credentials=true".into(),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        format!("--controllers={}", CONTROLLERS.join(",")),
        // Finished Pods are collected soon, as on a small cluster.
        "--terminated-pod-gc-threshold=100".into(),
        "--v=0".into(),
    ]
}
