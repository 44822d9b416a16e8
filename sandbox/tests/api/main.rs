//! API conformance tests: the sandbox driven by kube-rs (and kubectl), as cnpgops will drive it.
mod harness;

mod argocd;
mod crud;
mod custom_resources;
mod deletion;
mod discovery;
mod faults;
mod jobs;
mod kubectl;
mod portforward;
mod python_client;
mod rbac;
mod subresources;
mod watch;
