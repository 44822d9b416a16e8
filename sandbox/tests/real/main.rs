//! The real control plane (etcd, kube-apiserver, kube-controller-manager built by
//! `scripts/setup.sh`): what a cluster does that the product depends on, checked with the real
//! kubectl and kube-rs; and the real CloudNativePG operator on it (`cnpg`).
mod cnpg;
mod harness;
mod kubectl;
mod lifecycle;
mod plugin;
mod policy;
mod scenarios;
