//! The sandbox's network, as a node's: one machine-wide bridge `cnpgops0` (10.244.0.1/16)
//! carries every address of the world. Control planes and database servers listen on
//! host-local /32 addresses on the bridge; each Pod has its own network namespace behind a
//! veth on the bridge with an address from the pod range. Pods and the host reach each other
//! as on a real node (there is no kube-proxy: Services resolve to endpoints through each Pod's
//! `/etc/hosts`). Building it needs root (CAP_NET_ADMIN).
pub mod bridge;
pub mod pod;
pub mod pool;

pub use pool::{Lease, Pool};

/// Control planes (apiserver, etcd, the kubelet API): 10.244.1.0 – 10.244.15.255.
pub const CONTROL_PLANES: Pool = Pool::new("control-planes", [10, 244, 1, 0], [10, 244, 15, 255]);
/// Servers outside Kubernetes (the S3 server): 10.244.16.0 – 10.244.127.255.
pub const SERVERS: Pool = Pool::new("addresses", [10, 244, 16, 0], [10, 244, 127, 255]);
/// Pods of the node agent: 10.244.128.0 – 10.244.255.255.
pub const PODS: Pool = Pool::new("pods", [10, 244, 128, 0], [10, 244, 255, 255]);
