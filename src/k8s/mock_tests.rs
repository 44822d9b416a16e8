//! The mock-apiserver tier: Kubernetes-facing code run against a scripted API server
//! ([`apiserver`]), for the branches the sandbox reaches only by luck — a watch answered 410
//! Gone or 5xx, a 409 Conflict on an update, adopting what an earlier attempt created, a
//! terminal state (a failed Backup, a Job whose Pod cannot be created) failing fast. Each test
//! asserts the exact requests (method, path, query, body) and the outcome.
//!
//! - [`waits`]: the wait helper and `k8s::job::follow` (410, 5xx, 403, FailedCreate).
//! - [`steps`]: step kinds through the registry (`cnpg.backup`, `kube.apply`, `argo.autosync`,
//!   `argo.sync`, `cnpg.delete_cluster`).

mod apiserver;
mod steps;
mod waits;
