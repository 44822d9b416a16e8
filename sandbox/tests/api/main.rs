//! The sandbox's own parts driven by independent clients (kube-rs, kubectl, the Python client)
//! through the real apiserver: the node agent running Jobs and Pods, its kubelet API (logs,
//! port-forward), and fault injection (the Argo CD simulation is tested in the world tests). (What the apiserver itself does
//! is Kubernetes' own code, no longer tested here.)
mod harness;

mod everything;
mod faults;
mod jobs;
mod kubectl;
mod portforward;
mod python_client;
