#!/usr/bin/env bash
# Benchmarks the dev <- prod refresh on the sandbox's real PostgreSQL servers (issue 5, item 5):
#   scripts/bench-refresh.sh [SCALE]        (pgbench scale, default 50: ~750 MB)
#   PROFILE=debug scripts/bench-refresh.sh 10   (no release build; RSS is then a debug build's)
# Loads a pgbench dataset into prod (synestra world), then times, each from the same start:
#   1. cnpgops refresh-dev end to end, `--mode atomic` and `--mode stream` (and peak RSS),
#   2. naive `pg_dump -Fc | pg_restore --clean --if-exists --no-owner`,
#   3. `pg_dump -Fd -j2` + `pg_restore -Fd -j2 --clean --if-exists --no-owner`,
#   4. raw `COPY ... TO STDOUT | COPY ... FROM STDIN` of the same tables (4 in parallel),
# and prints each time, the ratios to the best direct pipeline, and cnpgops' peak RSS.
# Targets: cnpgops within 1.1x of the best direct pipeline; RSS under 50 MiB at any size.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-50}
dir=$PWD/.sandbox-bench
scripts/sandbox.sh down "$dir" >/dev/null 2>&1 || true
scripts/sandbox.sh up "$dir" sandbox/scenarios/synestra.yaml >/dev/null
trap 'scripts/sandbox.sh down "$dir" >/dev/null' EXIT
export KUBECONFIG=$dir/kubeconfig CNPGOPS_STATE_DIR=$dir/runs
profile=${PROFILE:-release}  # PROFILE=debug skips the long release build
cnpgops=${CNPGOPS:-}  # CNPGOPS=path uses that binary as it is
if [ -z "$cnpgops" ]; then
  if [ "$profile" = release ]; then cargo build -q --release -p cnpgops; else cargo build -q -p cnpgops; fi
  cnpgops=${CARGO_TARGET_DIR:-target}/$profile/cnpgops
fi
owner=$(kubectl -n databases get secret synestra-io-initdb-secret -o jsonpath='{.data.username}' | base64 -d)
export PGPASSWORD
PGPASSWORD=$(kubectl -n databases get secret synestra-io-initdb-secret -o jsonpath='{.data.password}' | base64 -d)
conn() { # CLUSTER -> libpq connection string to its -rw address
  local addr
  addr=$(kubectl -n databases get service "$1-rw" -o jsonpath='{.metadata.annotations.sandbox\.cnpgops\.io/address}')
  echo "host=${addr%:*} port=${addr##*:} user=$owner dbname=synestra_io"
}
src=$(conn synestra-io-cnpg)
dst=$(conn synestra-io-dev-cnpg)
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

echo "loading pgbench scale $scale into prod..."
pgbench -q -i -s "$scale" "$src" 2>&1 | tail -1
psql -X -q "$src" -c "select pg_size_pretty(pg_database_size(current_database())) as prod_size"

reset_dev() { psql -X -q "$dst" -c "DROP OWNED BY CURRENT_USER CASCADE; CREATE SCHEMA IF NOT EXISTS public;" >/dev/null; }

refresh() { # MODE -> seconds; peak RSS (KiB) in $dir/rss-MODE
  reset_dev
  local t0
  t0=$(now)
  /usr/bin/time -v -o "$dir/time-$1.txt" "$cnpgops" refresh-dev synestra-io --yes --mode "$1" >"$dir/cnpgops-$1.log" 2>&1 ||
    { tail -20 "$dir/cnpgops-$1.log" >&2; echo "cnpgops refresh-dev --mode $1 failed" >&2; exit 1; }
  secs "$t0" "$(now)"
  awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time-$1.txt" >"$dir/rss-$1"
}
t_cnpgops=$(refresh atomic)
t_stream=$(refresh stream)
rss_kib=$(sort -n "$dir"/rss-* | tail -1)

reset_dev
t0=$(now)
pg_dump -Fc "$src" | pg_restore --clean --if-exists --no-owner --no-privileges -d "$dst"
t_naive=$(secs "$t0" "$(now)")

reset_dev
rm -rf "$dir/dump"
t0=$(now)
pg_dump -Fd -j2 -f "$dir/dump" "$src"
pg_restore -Fd -j2 --clean --if-exists --no-owner --no-privileges -d "$dst" "$dir/dump"
t_dir=$(secs "$t0" "$(now)")

# Raw COPY into the tables pg_restore just made (emptied first), 4 tables in parallel.
tables="pgbench_accounts pgbench_branches pgbench_history pgbench_tellers"
psql -X -q "$dst" -c "TRUNCATE $(echo $tables | tr ' ' ',')"
t0=$(now)
for t in $tables; do
  psql -X -q "$src" -c "COPY $t TO STDOUT" | psql -X -q "$dst" -c "COPY $t FROM STDIN" &
done
wait
t_copy=$(secs "$t0" "$(now)")

best=$(printf '%s\n' "$t_naive" "$t_dir" "$t_copy" | sort -g | head -1)
printf '\npgbench scale %s\n' "$scale"
printf '%-44s %8.1fs  %5.2fx best\n' "cnpgops refresh-dev --mode atomic (e2e)" "$t_cnpgops" "$(echo "$t_cnpgops / $best" | bc -l)"
printf '%-44s %8.1fs  %5.2fx best\n' "cnpgops refresh-dev --mode stream (e2e)" "$t_stream" "$(echo "$t_stream / $best" | bc -l)"
printf '%-44s %8.1fs  %5.2fx best\n' "pg_dump -Fc | pg_restore" "$t_naive" "$(echo "$t_naive / $best" | bc -l)"
printf '%-44s %8.1fs  %5.2fx best\n' "pg_dump -Fd -j2 + pg_restore -j2" "$t_dir" "$(echo "$t_dir / $best" | bc -l)"
printf '%-44s %8.1fs  %5.2fx best\n' "COPY TO STDOUT | COPY FROM STDIN (x4)" "$t_copy" "$(echo "$t_copy / $best" | bc -l)"
printf '%-44s %8.1f MiB\n' "cnpgops peak RSS" "$(echo "$rss_kib / 1024" | bc -l)"
