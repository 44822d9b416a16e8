#!/usr/bin/env bash
# The random-moment SIGKILL tests at their full count (CI runs them smaller, in scripts/test.sh):
#   scripts/kills.sh                  refresh-dev 20 kills, restore in place 30 kills
#   scripts/kills.sh restore          only restore in place
#   CNPGOPS_KILLS=N CNPGOPS_RESTORE_KILLS=N CNPGOPS_KILL_SEED=S scripts/kills.sh   other counts, a replay
# Each test prints its seed (`kill moments: seed S`) and where its kills landed; a failure names
# the kill, its moment and the step it landed in. About 35 s a restore kill, 15 s a refresh one.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
run_dir=$(mktemp -d /tmp/cnpgops-kills.XXXXXX)
chmod 0755 "$run_dir" # PostgreSQL must traverse it
export TMPDIR=$run_dir CNPGOPS_TEST_RUN=$run_dir
trap 'rm -rf "$run_dir"' EXIT
export CNPGOPS_KILLS=${CNPGOPS_KILLS:-20} CNPGOPS_RESTORE_KILLS=${CNPGOPS_RESTORE_KILLS:-30}
case "$which" in
  all) filters=(faults::kill_anywhere faults::restore_anywhere) ;;
  refresh) filters=(faults::kill_anywhere) ;;
  restore) filters=(faults::restore_anywhere) ;;
  *) echo "usage: scripts/kills.sh [all|refresh|restore]" >&2; exit 2 ;;
esac
for f in "${filters[@]}"; do
  log=${CARGO_TARGET_DIR:-target}/${f#faults::}.log
  start=$(date +%s)
  status=0
  cargo test -p cnpgops --test it --locked -- "$f" --nocapture >"$log" 2>&1 || status=$?
  grep -E '^(kill moments|the clean run|[0-9]+ kills|test .* (ok|FAILED)$)' "$log" || true
  grep -A6 'panicked at' "$log" || true
  echo "== $f: $(( $(date +%s) - start ))s, exit $status (whole output: $log)"
  [ "$status" = 0 ] || exit "$status"
done
