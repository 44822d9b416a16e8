#!/usr/bin/env bash
# Runs the sandbox in the background: `scripts/sandbox.sh up [DIR]`, `scripts/sandbox.sh down [DIR]`.
# Then: export KUBECONFIG=DIR/kubeconfig (default DIR: .sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
dir=$(realpath -m "${2:-.sandbox}")
case "$cmd" in
  up)
    if [ -f "$dir/sandbox.pid" ] && kill -0 "$(cat "$dir/sandbox.pid")" 2>/dev/null; then
      echo "sandbox already running (pid $(cat "$dir/sandbox.pid")); KUBECONFIG=$dir/kubeconfig"; exit 0
    fi
    cargo build -q -p cnpgops-sandbox
    mkdir -p "$dir"
    rm -f "$dir/state.json"
    nohup target/debug/cnpgops-sandbox up --dir "$dir" >"$dir/sandbox.log" 2>&1 &
    echo $! >"$dir/sandbox.pid"
    for _ in $(seq 1 100); do [ -f "$dir/state.json" ] && break; sleep 0.1; done
    [ -f "$dir/state.json" ] || { echo "sandbox did not start; see $dir/sandbox.log" >&2; exit 1; }
    echo "sandbox up: export KUBECONFIG=$dir/kubeconfig"
    ;;
  down)
    if [ -f "$dir/sandbox.pid" ]; then
      pid=$(cat "$dir/sandbox.pid")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$dir/sandbox.pid"
    fi
    echo "sandbox down"
    ;;
  *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac
