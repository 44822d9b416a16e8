#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently. Safe to run again and again.
# Later parts of the sandbox (PostgreSQL, barman-cloud, the S3 server) are installed here too.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { log "missing $1: $2"; exit 1; }
}

need cargo "install the Rust toolchain (rustup) first"
need kubectl "kubectl 1.32+ is expected on this machine kind (google-cloud-cli); do not install Debian's kubernetes-client"

log "fetching crates (a no-op when cached)"
cargo fetch --locked >/dev/null
log "ok"
