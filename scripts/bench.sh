#!/usr/bin/env bash
# The performance table (issues 8 and 16; not a test): every figure measured in this one run, on
# the sandbox (real kube-apiserver, CloudNativePG and its PostgreSQL 15 servers, the synestra
# world) and its S3 server. The table's last rows say the machine's load during the run.
#   scripts/bench.sh                    # pgbench scales 10 and 100, 1,000 backups / 100,000 WAL
#   SCALES="10 60" scripts/bench.sh     # the refresh rows at these scales
#   BENCH_BACKUPS=100 BENCH_WALS=5000 scripts/bench.sh   # a smaller catalog
#   METHOD_SCALES="10 50 100 200"       # refresh by recovery vs by dump at these scales (default)
#   PROFILE=debug | CNPGOPS=path        # as scripts/bench-refresh.sh
# Rows, per scale (target 1): cnpgops refresh-dev (default stream, atomic) vs naive
# `pg_dump -Fc | pg_restore` vs the hand-tuned pipelines (`pg_dump -Fd -j2 + pg_restore -j2`, 4
# parallel raw COPY pipes), "best" the fastest direct pipeline at that size (naive included);
# where the default run's time went, from its run report (target 2); cnpgops peak RSS and CPU
# seconds; the time from the command's start to its first `step_started` JSON event (its line's
# arrival time: the events carry no timestamps). Then refresh by recovery vs by dump at
# METHOD_SCALES with a fitted line each and the crossover (target 5), and `cnpgops backups` vs
# `barman-cloud-backup-list` with S3 request counts (scripts/bench-catalog.sh, target 4).
# Works on a fresh machine after scripts/setup.sh (PostgreSQL 15 client, pgbench, bc, time, jq).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
scales=${SCALES:-10 100}
load0=$(cut -d' ' -f1-3 /proc/loadavg) start0=$(date -u +%FT%TZ)
bench_up "$PWD/.sandbox-bench"
bench_build
rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s |' "$@")"); }
f() { printf '%.2f' "$1"; } # seconds, two decimals

for scale in $scales; do
  echo "scale $scale: loading pgbench into prod..." >&2
  size=$(bench_load "$scale")
  t_stream=$(bench_cnpgops "stream-$scale" refresh-dev synestra-io --yes)
  t_atomic=$(bench_cnpgops "atomic-$scale" refresh-dev synestra-io --yes --mode atomic)
  t_naive=$(bench_naive)
  t_dir=$(bench_dir)
  t_copy=$(bench_copy)
  best=$(min "$t_naive" "$t_dir" "$t_copy") # the best direct pipeline at this size
  s="scale $scale ($size)"
  row "$s" "cnpgops refresh-dev (default: --mode stream)" "$(f "$t_stream")s" "$(ratio "$t_stream" "$t_naive")x naive, $(ratio "$t_stream" "$best")x best"
  row "$s" "cnpgops refresh-dev --mode atomic" "$(f "$t_atomic")s" "$(ratio "$t_atomic" "$t_naive")x naive, $(ratio "$t_atomic" "$best")x best"
  row "$s" "pg_dump -Fc \\| pg_restore (naive)" "$(f "$t_naive")s" "1.00x naive, $(ratio "$t_naive" "$best")x best"
  row "$s" "pg_dump -Fd -j2 + pg_restore -j2" "$(f "$t_dir")s" "$(ratio "$t_dir" "$t_naive")x naive"
  row "$s" "4 x COPY TO STDOUT \\| COPY FROM STDIN" "$(f "$t_copy")s" "$(ratio "$t_copy" "$t_naive")x naive"
  while IFS=$'\t' read -r phase secs; do
    row "$s" "default (stream), where the time goes: $phase" "$(f "$secs")s" "$(printf '%.0f' "$(echo "100 * $secs / $t_stream" | bc -l)")% of $(f "$t_stream")s"
  done < <(bench_phases "stream-$scale" "$t_stream")
  for m in stream atomic; do
    row "$s" "cnpgops --mode $m: peak RSS, CPU" "$(echo "scale=1; $(cat "$dir/$m-$scale.rss") / 1024" | bc) MiB" "$(f "$(cat "$dir/$m-$scale.cpu")") CPU s"
    row "$s" "cnpgops --mode $m: start to first step" "$(f "$(cat "$dir/$m-$scale.first")")s" ""
  done
done

# Choosing the method: both methods at METHOD_SCALES, a line through each, the crossover.
: >"$dir/method.txt"
for scale in ${METHOD_SCALES:-10 50 100 200}; do
  echo "method: scale $scale..." >&2
  bench_method "$scale"
done
while read -r scale bytes d r; do
  row "scale $scale ($((bytes / 1048576)) MiB)" "refresh by recovery vs by dump (whole command)" "$(f "$r")s vs $(f "$d")s" "$(ratio "$r" "$d")x"
done <"$dir/method.txt"
{ read -r da db ra rb; read -r cross; } < <(bench_crossover)
row "METHOD_SCALES" "fit, seconds = a + b * GiB" "dump a=$da b=$db; recovery a=$ra b=$rb" "least squares"
row "METHOD_SCALES" "crossover of the two lines" "$cross" ""
scripts/sandbox.sh down "$dir" >/dev/null
trap - EXIT

echo "catalog: ${BENCH_BACKUPS:-1000} backups, ${BENCH_WALS:-100000} WAL..." >&2
scripts/bench-catalog.sh >"$dir/catalog.txt" 2>"$dir/catalog.err" ||
  { tail -20 "$dir/catalog.err" >&2; echo "bench-catalog.sh failed" >&2; exit 1; }
val() { grep -F "$1" "${2:-$dir/catalog.txt}" | grep -oE '[0-9.]+s$|[0-9.]+x$' | head -1; } # PATTERN [FILE]
store=$(grep '^store:' "$dir/catalog.txt" | cut -d' ' -f2-)
requests=$(grep -F 'S3 requests (--no-cache)' "$dir/catalog.txt" | cut -d: -f2-)
cached=$(grep -F 'S3 requests with backup.info cached' "$dir/catalog.txt" | cut -d: -f2-)
row "$store" "cnpgops backups --no-cache" "$(val 'cnpgops backups --no-cache')" "S3 requests:$requests"
row "$store" "cnpgops backups (backup.info cached)" "$(val 'cnpgops backups, backup.info cached')" "S3 requests:$cached"
row "$store" "barman-cloud-backup-list --format json" "$(val 'barman-cloud-backup-list --format json')" "$(val 'ratio barman json / cnpgops --no-cache') cnpgops --no-cache; S3 requests not counted"
# The same with the S3 proxy's latency on every request (target 4 is stated with it).
latency=$(grep -m1 -oE '^with [0-9]+ ms added' "$dir/catalog.txt" | grep -oE '[0-9]+' || true)
if [ -n "$latency" ]; then
  sed -n '/^with [0-9]* ms added/,$p' "$dir/catalog.txt" >"$dir/catalog-latency.txt"
  lval() { val "$1" "$dir/catalog-latency.txt"; }
  row "$store, ${latency} ms S3 latency" "cnpgops backups --no-cache" "$(lval 'cnpgops backups --no-cache')" "$(lval 'ratio barman json / cnpgops --no-cache') faster than barman-cloud-backup-list"
  row "$store, ${latency} ms S3 latency" "cnpgops backups (backup.info cached)" "$(lval 'cnpgops backups, backup.info cached')" "$(lval 'ratio barman json / cnpgops cached') faster than barman-cloud-backup-list"
  row "$store, ${latency} ms S3 latency" "barman-cloud-backup-list --format json" "$(lval 'barman-cloud-backup-list --format json')" ""
fi

row "machine" "load average (1, 5, 15 min) at the start; at the end" "$load0; $(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc) cores; $start0 to $(date -u +%FT%TZ)"

printf '\n| dataset | measurement | value | ratio / notes |\n| --- | --- | --- | --- |\n'
printf '%s\n' "${rows[@]}"
