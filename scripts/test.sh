#!/usr/bin/env bash
# The one test command: installs what is missing, then runs every test, lint and format check.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

start=$(date +%s)
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo build (workspace, all targets)"
cargo build --workspace --all-targets --locked
echo "== cargo test"
cargo test --workspace --locked -- --test-threads=4
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== all tests passed in $(( $(date +%s) - start ))s"
