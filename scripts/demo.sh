#!/usr/bin/env bash
# The demo: installs what is missing, starts the sandbox with the synestra world, and shows it.
# `cnpgops refresh-dev synestra-io` joins here once the refresh-dev runbook lands (issue 5).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dir=$PWD/.sandbox
scripts/sandbox.sh down "$dir" >/dev/null 2>&1 || true
scripts/sandbox.sh up "$dir"
trap 'scripts/sandbox.sh down "$dir" >/dev/null' EXIT
export KUBECONFIG=$dir/kubeconfig
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: databases
---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: synestra-io-cnpg
  namespace: databases
spec:
  instances: 1
  storage:
    size: 5Gi
  bootstrap:
    initdb:
      database: synestra_io
      owner: synestra_io
---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: synestra-io-dev-cnpg
  namespace: databases
spec:
  instances: 1
  storage:
    size: 5Gi
  bootstrap:
    initdb:
      database: synestra_io
      owner: synestra_io
YAML
kubectl get clusters -n databases
cargo run -q -p cnpgops -- --help
echo "demo: the synestra clusters are declared; refresh-dev arrives with the sandbox world (issue 3) and issue 5."
