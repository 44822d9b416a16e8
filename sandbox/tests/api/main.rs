//! The sandbox's own parts driven by independent clients (kube-rs, kubectl, the Python client)
//! through the real apiserver: the node agent running Jobs and Pods, its kubelet API (logs,
//! port-forward), the Argo CD simulation, and fault injection. (What the apiserver itself does
//! is Kubernetes' own code, no longer tested here.)
mod harness;

mod argocd;
mod everything;
mod faults;
mod jobs;
mod kubectl;
mod portforward;
mod python_client;
