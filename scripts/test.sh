#!/usr/bin/env bash
# The one test command: installs what is missing, then runs every test, lint and format check,
# and fails if a test left a process behind (PostgreSQL, S3, the control plane, Pods' processes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

# Every test's temp dirs live under one run directory (traversable by the postgres user), and
# every process the tests start inherits CNPGOPS_TEST_RUN: the leak check looks only at this
# run's processes, not at a sandbox someone runs by hand or another test run on the machine.
run_dir=$(mktemp -d /tmp/cnpgops-test.XXXXXX)
chmod 0755 "$run_dir"
export TMPDIR=$run_dir CNPGOPS_TEST_RUN=$run_dir
trap 'rm -rf "$run_dir"' EXIT
leaks() {
  # Every live process of this run but this script and its own helpers: the tests' servers
  # (PostgreSQL, moto, etcd, kube-apiserver, kube-controller-manager, kubelet-api, sandboxes)
  # name the run dir in their arguments; Pods' processes carry CNPGOPS_TEST_RUN.
  local d pid stat self=$BASHPID
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    stat=$(sed 's/.*) //' "$d/stat" 2>/dev/null) || continue
    case " $$ $self " in *" $pid "*) continue ;; esac
    case " $$ $self " in *" $(echo "$stat" | cut -d' ' -f2) "*) continue ;; esac
    [ "${stat%% *}" = Z ] && continue
    if grep -qaF "CNPGOPS_TEST_RUN=$run_dir" "$d/environ" 2>/dev/null \
      || grep -qaF "$run_dir" "$d/cmdline" 2>/dev/null; then
      echo "$pid $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)"
    fi
  done
}

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo build (workspace, all targets)"
cargo build --workspace --all-targets --locked
step "cargo test"
cargo test --workspace --locked -- --test-threads=4
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# scripts/bench.sh still prints every row of its table (issue 16) at settable scales; tiny ones
# here (a smoke run: its timings mean nothing on a machine running tests, and are not judged).
step "scripts/bench.sh at scale 1 (the table's rows, not its timings)"
if ! PROFILE=debug SCALES=1 METHOD_SCALES="1 2" BENCH_BACKUPS=20 BENCH_WALS=200 BENCH_S3_LATENCY_MS=5 \
  scripts/bench.sh >"$run_dir/bench.md" 2>"$run_dir/bench.err"; then
  tail -40 "$run_dir/bench.err" >&2
  echo "scripts/bench.sh failed" >&2
  exit 1
fi
cat "$run_dir/bench.md"
scripts/bench-check.sh "$run_dir/bench.md" 1 "1 2"

step "process leak check"
sleep 1
left=$(leaks)
if [ -n "$left" ]; then
  echo "tests left processes behind:" >&2
  echo "$left" >&2
  exit 1
fi
step "all tests passed"
