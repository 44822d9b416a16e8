#!/usr/bin/env bash
# The demo (the README's first command): installs what is missing, starts the sandbox with the
# real CloudNativePG operator (1.30.0) and the synestra world of seed 000 (prod `synestra-io-cnpg` and dev `synestra-io-dev-cnpg` in
# `databases`, the app in `web-synestra-io-dev`, Argo CD Applications), loads a realistic
# dataset into prod and stale rows plus a dev-only table into dev, runs
#   cnpgops refresh-dev synestra-io --yes --kubeconfig .sandbox/kubeconfig
# and shows the verification: dev equals prod, the app is back, the Cluster is annotated.
# ROWS (default 200000) sets the size of the big table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dir=$PWD/.sandbox
rows=${ROWS:-200000}
scripts/sandbox.sh down "$dir" >/dev/null 2>&1 || true
rm -rf "$dir" # a fresh world every time (the data of an earlier demo would be reused)
scripts/sandbox.sh up "$dir" sandbox/scenarios/synestra.yaml
trap 'scripts/sandbox.sh down "$dir" >/dev/null' EXIT
export KUBECONFIG=$dir/kubeconfig
cargo build -q -p cnpgops
cnpgops=${CARGO_TARGET_DIR:-target}/debug/cnpgops

# The scenario's owner credentials (sandbox test data), read the way an operator would.
owner=$(kubectl -n databases get secret synestra-io-initdb-secret -o jsonpath='{.data.username}' | base64 -d)
export PGPASSWORD
PGPASSWORD=$(kubectl -n databases get secret synestra-io-initdb-secret -o jsonpath='{.data.password}' | base64 -d)
sql() { # CLUSTER ARGS...: psql as the owner, TLS verified against the cluster's own CA and the
  # -rw Service's name, at the primary Pod's address (the host reaches Pod IPs as a node does)
  local primary ip
  kubectl -n databases get secret "$1-ca" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$dir/$1-ca.crt"
  primary=$(kubectl -n databases get cluster "$1" -o jsonpath='{.status.currentPrimary}')
  ip=$(kubectl -n databases get pod "$primary" -o jsonpath='{.status.podIP}')
  psql -X -q -v ON_ERROR_STOP=1 \
    "sslmode=verify-full sslrootcert=$dir/$1-ca.crt host=$1-rw.databases.svc hostaddr=$ip user=$owner dbname=synestra_io" "${@:2}"
}
echo "== loading prod ($rows orders, schemas shop/audit, enum + composite types, jsonb, bytea, arrays,"
echo "   a partitioned table, views, a materialized view, functions, triggers, sequences, citext, pgcrypto)"
sed "s/ROWS/$rows/" tests/it/fixtures/refresh/prod.sql | sql synestra-io-cnpg >/dev/null
echo "== dev before: stale rows and a dev-only table"
sql synestra-io-dev-cnpg <tests/it/fixtures/refresh/dev.sql
sql synestra-io-dev-cnpg -c "select 'dev_only' as t, count(*) from public.dev_only union all select 'shop.customers', count(*) from shop.customers"
kubectl -n web-synestra-io-dev get deployments

echo "== cnpgops refresh-dev synestra-io --yes --verify checksums"
# TLS verified everywhere: cnpgops and its Job trust only the operator's <cluster>-ca (ca.crt).
start=$(date +%s%N)
"$cnpgops" refresh-dev synestra-io --yes --verify checksums --kubeconfig "$KUBECONFIG"
end=$(date +%s%N)
echo "== refresh took $(( (end - start) / 1000000 )) ms"

echo "== dev after"
sql synestra-io-dev-cnpg -c "select count(*) as orders, (select count(*) from shop.customers) as customers, to_regclass('public.dev_only') as dev_only from shop.orders"
kubectl -n web-synestra-io-dev get deployments
kubectl -n databases get cluster synestra-io-dev-cnpg -o json |
  python3 -c 'import json,sys; a=json.load(sys.stdin)["metadata"]["annotations"]; [print(f"{k}: {v}") for k,v in sorted(a.items()) if k.startswith("cnpgops.io/")]'
kubectl -n databases get events --field-selector reason=Refreshed -o custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message
echo "demo: done"
