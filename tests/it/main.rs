//! CLI tests: one binary, one module per command or concern, insta snapshots with filters.

mod confirm;
mod examples;
mod harness;
mod kube_steps;
mod lock;
mod plan;
mod redaction;
mod resume;
mod run;
mod runbooks;
mod sandbox;
mod state_kubernetes;
