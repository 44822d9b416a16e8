//! The cnpgops sandbox: a single-node Kubernetes for testing cnpgops, built from real parts where
//! they can run here.
//!
//! - [`control_plane`]: the real etcd, kube-apiserver and kube-controller-manager (built from
//!   their Go modules by `scripts/setup.sh`), a fresh PKI, the real CRDs.
//! - [`node`]: the node agent in place of the kubelet: registers the Node, binds Pods, runs them
//!   as host processes, and serves the kubelet API (logs, port-forward) to the apiserver.
//! - [`net`]: the bridge `cnpgops0`, address pools, and each Pod's network namespace.
//! - [`faults`]: API fault injection (a validating admission webhook), S3 faults live in `world`.
//! - [`cluster`]: the API client the world's controllers share (informer caches, blocking writes).
//! - [`operators`]: the simulated CloudNativePG operator and Argo CD application controller.
//! - [`world`]: the real processes behind the objects: PostgreSQL 15, barman-cloud, S3 (moto).
//! - [`scenario`]: YAML worlds applied at start and waited for.
//! - [`logs`]: container logs, mirrored to files the kubelet API serves.
//! - [`server`]: starting and stopping it all, writing `kubeconfig` / `state.json`.
pub mod cluster;
pub mod control_plane;
pub mod faults;
pub mod logs;
pub mod net;
pub mod node;
pub mod operators;
pub mod scenario;
pub mod server;
pub mod world;

pub use server::Sandbox;
