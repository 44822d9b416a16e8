#!/usr/bin/env bash
# Choosing the method (issue 16, target 5), alone: refresh-dev by dump against by recovery at
# pgbench scales (a fresh base backup of prod after each load), a least-squares line
# seconds = a + b * GiB through each method's times, and where the lines cross.
# scripts/bench.sh prints the same rows in its table.
#   scripts/bench-method.sh                  # METHOD_SCALES="10 50 100 200"
#   METHOD_SCALES="5 10 20" PROFILE=debug scripts/bench-method.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
bench_up "$PWD/.sandbox-bench"
bench_build
: >"$dir/method.txt"
for scale in ${METHOD_SCALES:-10 50 100 200}; do
  echo "scale $scale..." >&2
  bench_method "$scale"
done
printf '%-8s %12s %12s %12s %8s\n' scale bytes dump_s recovery_s ratio
while read -r scale bytes d r; do
  printf '%-8s %12s %12.2f %12.2f %7.2fx\n' "$scale" "$bytes" "$d" "$r" "$(ratio "$r" "$d")"
done <"$dir/method.txt"
{ read -r da db ra rb; read -r cross; } < <(bench_crossover)
echo "fit, seconds = a + b * GiB: dump a=$da b=$db; recovery a=$ra b=$rb"
echo "crossover: $cross"
