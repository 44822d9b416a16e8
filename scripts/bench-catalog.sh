#!/usr/bin/env bash
# Times `cnpgops backups` against `barman-cloud-backup-list` on one object store in barman
# layout, written straight to the sandbox's S3 server (moto, SigV4): BENCH_BACKUPS base backups
# (default 1000) and BENCH_WALS WAL segments (default 100000). Prints both times, the ratio and
# cnpgops's S3 request count at a tenth of the WAL and at all of it (they must be equal); then
# both again with BENCH_S3_LATENCY_MS (default 20, 0 skips) added to every S3 request by the
# sandbox's S3 proxy, as a real object store's round trip.
#   scripts/bench-catalog.sh                      # 1,000 backups, 100,000 WAL objects
#   BENCH_BACKUPS=100 BENCH_WALS=5000 scripts/bench-catalog.sh
#   PROFILE=debug | CNPGOPS=path                  # the binary timed (default: release build)
# Also prints where the cold listing's time goes: cnpgops's CPU, its fixed cost (the cached
# run), and the S3 server alone answering every backup.info GET at cnpgops's concurrency.
# The sandbox, its S3 server and the store live only for the run (tests/it/catalog/bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_BACKUPS=${BENCH_BACKUPS:-1000} BENCH_WALS=${BENCH_WALS:-100000}
if [ -z "${CNPGOPS:-}" ] && [ "${PROFILE:-release}" = release ]; then
  cargo build -q --release -p cnpgops
  export CNPGOPS=${CARGO_TARGET_DIR:-target}/release/cnpgops
fi
[ -z "${CNPGOPS:-}" ] || CNPGOPS=$(realpath "$CNPGOPS")
cargo build -q -p cnpgops --tests
exec cargo test -q -p cnpgops --test it catalog::bench::bench_catalog -- --ignored --nocapture
