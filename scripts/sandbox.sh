#!/usr/bin/env bash
# Runs the sandbox in the background:
#   scripts/sandbox.sh up [DIR] [SCENARIO]   e.g. scripts/sandbox.sh up .sandbox sandbox/scenarios/synestra.yaml
#   scripts/sandbox.sh down [DIR]
# Then: export KUBECONFIG=DIR/kubeconfig (default DIR: .sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
dir=$(realpath -m "${2:-.sandbox}")
scenario=${3:-}
bin=${CARGO_TARGET_DIR:-target}/debug/cnpgops-sandbox
case "$cmd" in
  up)
    if [ -f "$dir/sandbox.pid" ] && kill -0 "$(cat "$dir/sandbox.pid")" 2>/dev/null; then
      echo "sandbox already running (pid $(cat "$dir/sandbox.pid")); KUBECONFIG=$dir/kubeconfig"; exit 0
    fi
    cargo build -q -p cnpgops-sandbox
    mkdir -p "$dir"
    rm -f "$dir/state.json" "$dir/ready"
    args=(up --dir "$dir")
    [ -n "$scenario" ] && args+=(--scenario "$(realpath "$scenario")")
    nohup "$bin" "${args[@]}" >"$dir/sandbox.log" 2>&1 &
    echo $! >"$dir/sandbox.pid"
    for _ in $(seq 1 3600); do
      [ -f "$dir/ready" ] && break
      kill -0 "$(cat "$dir/sandbox.pid")" 2>/dev/null || { cat "$dir/sandbox.log" >&2; echo "sandbox failed to start" >&2; exit 1; }
      sleep 0.1
    done
    [ -f "$dir/ready" ] || { echo "sandbox not ready in 360s; see $dir/sandbox.log" >&2; exit 1; }
    grep -h "scenario ready" "$dir/sandbox.log" || true
    echo "sandbox up: export KUBECONFIG=$dir/kubeconfig"
    ;;
  down)
    if [ -f "$dir/state.json" ]; then "$bin" down --dir "$dir" || true; fi
    rm -f "$dir/sandbox.pid"
    echo "sandbox down"
    ;;
  *) echo "usage: $0 up|down [DIR] [SCENARIO]" >&2; exit 2 ;;
esac
