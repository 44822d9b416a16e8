#!/usr/bin/env bash
# The one test command: installs what is missing, then runs every test, lint and format check,
# and fails if a test left a PostgreSQL, S3 or sandbox process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

# Processes that belong to sandboxes started by the tests (not a sandbox someone runs by hand
# under .sandbox/, whose paths do not contain the test temp dirs).
leaks() { pgrep -af '(postgres -D /tmp/\.tmp|moto.*server|cnpgops-sandbox up --dir /tmp/\.tmp)' || true; }
before=$(leaks)

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo build (workspace, all targets)"
cargo build --workspace --all-targets --locked
step "cargo test"
cargo test --workspace --locked -- --test-threads=4
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "process leak check"
sleep 1
after=$(leaks)
if [ "$after" != "$before" ]; then
  echo "tests left processes behind:" >&2
  echo "$after" >&2
  exit 1
fi
step "all tests passed"
