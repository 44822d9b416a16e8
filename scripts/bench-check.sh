#!/usr/bin/env bash
# Checks a table printed by scripts/bench.sh (issue 16's "Done when"): for every scale asked for,
# the refresh rows of target 1 (the default and atomic modes against the naive pipeline, as
# ratios), target 2's breakdown (each phase of the default run) and cnpgops's peak RSS; target 5's
# row per method scale, both fits and the crossover; target 4's catalog rows, also with the S3
# latency; and the machine's load. Timings are never judged here: only that each row is there
# with a number.
#   scripts/bench-check.sh TABLE SCALES METHOD_SCALES     e.g. bench-check.sh out.md "1" "1 2"
set -euo pipefail
table=$1 scales=$2 method_scales=$3
fail=0
need() { # DATASET-PREFIX MEASUREMENT VALUE-REGEX
  if ! grep -F "| $1" "$table" | grep -F "| $2 |" | grep -qE "$3"; then
    echo "bench table: no row \`$1 ... | $2 |\` with a value matching /$3/" >&2
    fail=1
  fi
}
num='[0-9]+\.[0-9]+'
for s in $scales; do
  need "scale $s (" "cnpgops refresh-dev (default: --mode stream)" "${num}s \| ${num}x naive, ${num}x best"
  need "scale $s (" "cnpgops refresh-dev --mode atomic" "${num}s \| ${num}x naive"
  need "scale $s (" 'pg_dump -Fc \| pg_restore (naive)' "${num}s \| 1.00x naive"
  for phase in "checks (clusters, preflight, estimate)" "app stop (auto-sync, scale to 0, sessions)" \
    "job: job_start" "job: clean" "job: schema" "job: data" "job: indexes" "job: constraints" \
    "job: analyze" "job: commit" "verify" "app start (scale back, auto-sync)"; do
    need "scale $s (" "default (stream), where the time goes: $phase" "${num}s \| [0-9]+% of ${num}s"
  done
  need "scale $s (" "cnpgops --mode stream: peak RSS, CPU" "[0-9.]+ MiB \| ${num} CPU s"
done
for s in $method_scales; do
  need "scale $s (" "refresh by recovery vs by dump (whole command)" "${num}s vs ${num}s \| ${num}x"
done
need "METHOD_SCALES" "fit, seconds = a + b * GiB" "dump a=-?${num} b=-?${num}; recovery a=-?${num} b=-?${num}"
need "METHOD_SCALES" "crossover of the two lines" "GiB|none"
need "" "cnpgops backups --no-cache" "${num}s \| S3 requests: [0-9]+"
need "" "cnpgops backups (backup.info cached)" "${num}s \| S3 requests: [0-9]+"
need "" "barman-cloud-backup-list --format json" "${num}s \| ${num}x cnpgops"
need "" "cnpgops backups --no-cache" "ms S3 latency.*${num}x faster than barman-cloud-backup-list"
need "machine" "load average (1, 5, 15 min) at the start; at the end" "$num $num $num; $num $num $num"
if [ "$fail" = 0 ]; then echo "bench table: every row there ($(grep -c '^| ' "$table") rows)"; fi
exit "$fail"
