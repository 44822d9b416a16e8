//! The cnpgops sandbox: a local Kubernetes world for testing cnpgops without a real cluster.
//!
//! - [`apiserver`]: the Kubernetes REST API (discovery, CRUD, patch, apply, watch, dryRun,
//!   finalizers, Status errors) over an in-memory [`apiserver::store`], validating custom
//!   resources against the real CRD schemas in [`schema`].
//! - [`controllers`]: what every cluster runs (namespace finalization, garbage collection).
//! - [`logs`]: container logs served by `pods/log`.
//! - [`server`]: starting it on loopback and writing `kubeconfig` / `state.json`.
pub mod apiserver;
pub mod cluster;
pub mod control_plane;
pub mod controllers;
pub mod logs;
pub mod node;
pub mod operators;
pub mod scenario;
pub mod schema;
pub mod server;
pub mod world;

pub use server::Sandbox;
