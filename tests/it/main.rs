//! CLI tests: one binary, one module per command or concern, insta snapshots with filters.

mod bad_input;
mod bad_input_table;
mod catalog;
mod confirm;
mod confirm_step;
mod crash;
mod deploy;
mod examples;
mod flags;
mod harness;
mod kube_steps;
mod lock;
mod migrations;
mod plan;
mod redaction;
mod refresh_dev;
mod refresh_masking;
mod refresh_refusals;
mod refresh_world;
mod resume;
mod run;
mod runbooks;
mod sandbox;
mod secret_leak;
mod state_kubernetes;
