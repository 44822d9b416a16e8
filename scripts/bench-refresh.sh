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
# scripts/bench.sh runs the same measurements (scripts/bench-lib.sh) in its one table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
scale=${1:-50}
bench_up "$PWD/.sandbox-bench"
bench_build

echo "loading pgbench scale $scale into prod..."
echo "prod size: $(bench_load "$scale")"
t_cnpgops=$(bench_cnpgops atomic refresh-dev synestra-io --yes --mode atomic)
t_stream=$(bench_cnpgops stream refresh-dev synestra-io --yes --mode stream)
rss_kib=$(sort -n "$dir"/atomic.rss "$dir"/stream.rss | tail -1)
t_naive=$(bench_naive)
t_dir=$(bench_dir)
t_copy=$(bench_copy)

best=$(min "$t_naive" "$t_dir" "$t_copy")
printf '\npgbench scale %s\n' "$scale"
printf '%-44s %8.1fs  %5.2fx best\n' "cnpgops refresh-dev --mode atomic (e2e)" "$t_cnpgops" "$(ratio "$t_cnpgops" "$best")"
printf '%-44s %8.1fs  %5.2fx best\n' "cnpgops refresh-dev --mode stream (e2e)" "$t_stream" "$(ratio "$t_stream" "$best")"
printf '%-44s %8.1fs  %5.2fx best\n' "pg_dump -Fc | pg_restore" "$t_naive" "$(ratio "$t_naive" "$best")"
printf '%-44s %8.1fs  %5.2fx best\n' "pg_dump -Fd -j2 + pg_restore -j2" "$t_dir" "$(ratio "$t_dir" "$best")"
printf '%-44s %8.1fs  %5.2fx best\n' "COPY TO STDOUT | COPY FROM STDIN (x4)" "$t_copy" "$(ratio "$t_copy" "$best")"
for m in atomic stream; do
  t=$([ "$m" = atomic ] && echo "$t_cnpgops" || echo "$t_stream")
  printf '\nwhere --mode %s spent its %.1fs (run report: steps and the Job'"'"'s phases)\n' "$m" "$t"
  bench_phases "$m" "$t" | while IFS=$'\t' read -r phase secs; do
    printf '  %-46s %7.2fs  %3.0f%%\n' "$phase" "$secs" "$(echo "100 * $secs / $t" | bc -l)"
  done
done
printf '%-44s %8.1f MiB\n' "cnpgops peak RSS" "$(echo "$rss_kib / 1024" | bc -l)"
