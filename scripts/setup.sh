#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently. Safe to run again and again.
# Later parts of the sandbox (PostgreSQL, barman-cloud, the S3 server) are installed here too.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { log "missing $1: $2"; exit 1; }
}

need cargo "install the Rust toolchain (rustup) first"
need kubectl "kubectl 1.32+ is expected on this machine kind (google-cloud-cli); do not install Debian's kubernetes-client"

log "fetching crates (a no-op when cached)"
cargo fetch --locked >/dev/null
log "ok"

# --- The sandbox world (issue 3): PostgreSQL 15, barman-cloud and the S3 server (moto) ---------
# Each step is skipped when already done; each reports how long it took.
CNPGOPS_OPT=${CNPGOPS_OPT:-/opt/cnpgops}
BARMAN_VENV=${CNPGOPS_BARMAN_VENV:-$CNPGOPS_OPT/venv-barman}
MOTO_VENV=${CNPGOPS_MOTO_VENV:-$CNPGOPS_OPT/venv-moto}
KUBE_VENV=${CNPGOPS_KUBE_VENV:-$CNPGOPS_OPT/venv-kube}
KUBE_REQS="kubernetes==33.1.0"
# barman 3.19 is what the barman-cloud plugin's sidecar ships; moto lean (not moto[server]).
BARMAN_REQS="barman[cloud]>=3.19,<3.20"
MOTO_REQS="moto[s3]>=5.1,<6 flask flask-cors"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

timed() { # timed LABEL CMD...: runs CMD and logs its duration
  local label=$1 t0; shift
  t0=$(date +%s%N)
  "$@"
  local ms=$((($(date +%s%N) - t0) / 1000000))
  log "$label: installed in $((ms / 1000)).$((ms % 1000 / 100))s"
}

apt_install() {
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

missing_debs=()
# procps: pgrep for the leak check; bsdutils: `script` for the pseudo-terminal tests;
# time, bc, jq: scripts/bench.sh (peak RSS, CPU seconds, ratios, the run report); iproute2 and util-linux (ip,
# unshare, nsenter, setpriv): the node agent's Pod network and mount namespaces; curl: its probes.
for pkg in postgresql-15 postgresql-client-15 python3-venv curl procps bsdutils time bc jq iproute2 util-linux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing_debs+=("$pkg")
done
# postgresql-contrib-15 is a virtual package (provided by postgresql-15): probe an extension.
[ -f /usr/share/postgresql/15/extension/pg_stat_statements.control ] \
  || missing_debs+=(postgresql-15 postgresql-contrib-15)
if [ ${#missing_debs[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing_debs[*]}"
  t0=$SECONDS
  apt_install "${missing_debs[@]}"
  log "Debian packages: installed in $((SECONDS - t0))s"
else
  log "PostgreSQL 15: present ($(/usr/lib/postgresql/15/bin/postgres --version))"
fi

# make_venv DIR "REQS" PROBE: a /usr/bin/python3 venv (the postgres user must be able to run it,
# so never the pyenv Python under /root), rebuilt only when REQS changed or PROBE fails.
make_venv() {
  local dir=$1 reqs=$2 probe=$3
  if [ -f "$dir/.cnpgops-reqs" ] && [ "$(cat "$dir/.cnpgops-reqs")" = "$reqs" ] \
    && "$dir/bin/python" -c "$probe" >/dev/null 2>&1; then
    log "$(basename "$dir"): present ($("$dir/bin/python" -c "$probe" 2>/dev/null))"
    return
  fi
  log "building $dir ($reqs)"
  $SUDO mkdir -p "$(dirname "$dir")"
  $SUDO rm -rf "$dir"
  # shellcheck disable=SC2086 # REQS is a list of requirement specifiers
  timed "$(basename "$dir")" $SUDO bash -c "/usr/bin/python3 -m venv '$dir' \
    && '$dir/bin/pip' install -q --disable-pip-version-check $(printf "'%s' " $reqs)"
  echo "$reqs" | $SUDO tee "$dir/.cnpgops-reqs" >/dev/null
  $SUDO chmod -R a+rX "$(dirname "$dir")"
}

make_venv "$BARMAN_VENV" "$BARMAN_REQS" \
  "import barman, boto3; print('barman', barman.__version__)"
make_venv "$MOTO_VENV" "$MOTO_REQS" \
  "import moto, flask, flask_cors; print('moto', moto.__version__)"
# The independent-client check drives the sandbox with the official Python client too.
make_venv "$KUBE_VENV" "$KUBE_REQS" \
  "import kubernetes; print('kubernetes', kubernetes.__version__)"
# The postgres OS user runs archive_command/restore_command: it must reach the barman venv.
if [ "$(id -u)" = 0 ] \
  && ! runuser -u postgres -- "$BARMAN_VENV/bin/barman-cloud-wal-archive" --version >/dev/null 2>&1; then
  log "the postgres user cannot run $BARMAN_VENV/bin/barman-cloud-wal-archive"; exit 1
fi
# --- The real control plane and node agent (issue 12), CloudNativePG (issue 13) ---------------
# Built from their Go modules, pinned by world/*/go.mod + go.sum, cached under $CNPGOPS_OPT;
# skipped when present. Cold on 2 cores: etcd ~40 s, kube-apiserver ~9 min, kube-controller-manager
# ~3 min, CloudNativePG's manager ~4 min (with module downloads); warm: a few seconds.
need go "Go 1.26.8 is expected on this machine kind (polyglot)"
t0=$SECONDS
CNPGOPS_OPT=$CNPGOPS_OPT world/build.sh etcd k8s cnpg plugin node
log "Go components: ready in $((SECONDS - t0))s"
log "world ok"
