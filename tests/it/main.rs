//! CLI tests: one binary, one module per command or concern, insta snapshots with filters.

mod confirm;
mod harness;
mod plan;
mod redaction;
mod resume;
mod run;
mod runbooks;
