//! CLI tests: one binary, one module per command or concern, insta snapshots with filters.

mod harness;
mod plan;
mod redaction;
mod resume;
mod run;
mod runbooks;
