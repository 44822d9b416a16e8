#!/usr/bin/env bash
# Builds the sandbox's real parts from their Go modules (pinned by world/*/go.mod and go.sum)
# into $CNPGOPS_OPT (default /opt/cnpgops), each skipped when its binaries are present:
#   etcd-3.7.3/etcd, k8s-1.36.3/{kube-apiserver,kube-controller-manager}, cnpg-1.30.0/manager
#   (with the module's CRDs and release manifest),
#   plugin-barman-cloud-0.14.0/manager (the barman-cloud CNPG-I plugin, with its manifest),
#   node/kubelet-api (the node agent's kubelet API, this repo's own Go code).
# A binary is built to a temporary name and renamed only when the build succeeded, so nothing
# half-built is ever taken for present. Usage: world/build.sh [etcd|k8s|cnpg|plugin|node]...
set -euo pipefail
cd "$(dirname "$0")"

OPT=${CNPGOPS_OPT:-/opt/cnpgops}
ETCD_VERSION=3.7.3
K8S_VERSION=1.36.3
CNPG_VERSION=1.30.0
PLUGIN_VERSION=0.14.0
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# The Go caches live beside the binaries so a second build (or a second checkout) reuses them.
export GOMODCACHE=${GOMODCACHE:-$OPT/go/mod} GOCACHE=${GOCACHE:-$OPT/go/cache}

log() { printf 'setup: %s\n' "$*" >&2; }

fail() { # fail COMPONENT COMMAND
  log "FAILED building $1: '$2' exited non-zero (output above)."
  log "retry with: world/build.sh $1   (a module that cannot be fetched: check the Go module proxy)"
  exit 1
}

# build COMPONENT OUT_PATH LDFLAGS PACKAGE (run inside the component's module directory)
build() {
  local component=$1 out=$2 ldflags=$3 pkg=$4 t0=$SECONDS
  mkdir -p "$(dirname "$out")"
  local cmd="go build -trimpath -tags selinux,notest -ldflags '$ldflags' -o $out.partial $pkg"
  log "$component: $cmd"
  (eval "$cmd") || { rm -f "$out.partial"; fail "$component" "$cmd"; }
  mv "$out.partial" "$out"
  log "$component: built $(basename "$out") in $((SECONDS - t0))s"
}

present() { # present FILE...: every file exists and is executable
  local f
  for f in "$@"; do [ -x "$f" ] || return 1; done
}

build_etcd() {
  local out=$OPT/etcd-$ETCD_VERSION/etcd
  if present "$out"; then log "etcd $ETCD_VERSION: present"; return; fi
  (cd etcd && build etcd "$out" "-s -w" .)
}

build_k8s() {
  local dir=$OPT/k8s-$K8S_VERSION
  if present "$dir/kube-apiserver" "$dir/kube-controller-manager"; then
    log "kubernetes $K8S_VERSION: present"; return
  fi
  local v=v$K8S_VERSION major=${K8S_VERSION%%.*} minor ldflags="-s -w" p
  minor=${K8S_VERSION#*.}; minor=${minor%%.*}
  # What upstream's hack/lib/version.sh sets, so /version tells the truth.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  (cd k8s && for b in kube-apiserver kube-controller-manager; do
    present "$dir/$b" || build "kubernetes $b" "$dir/$b" "$ldflags" "k8s.io/kubernetes/cmd/$b"
  done)
}

build_cnpg() {
  local dir=$OPT/cnpg-$CNPG_VERSION
  local out=$dir/manager p=github.com/cloudnative-pg/cloudnative-pg/pkg/versions
  if present "$out"; then
    log "cloudnative-pg $CNPG_VERSION: present"
  else
    (cd cnpg && build cloudnative-pg "$out" \
      "-s -w -X $p.buildVersion=$CNPG_VERSION -X $p.buildCommit=v$CNPG_VERSION" \
      github.com/cloudnative-pg/cloudnative-pg/cmd/manager)
  fi
  # Its CRDs and its release manifest (the operator's Deployment, RBAC, webhooks), from the
  # module: the sandbox installs CNPG from them as `kubectl apply -f cnpg-1.30.0.yaml` would.
  if [ ! -f "$dir/cnpg-$CNPG_VERSION.yaml" ]; then
    local mod
    mod=$(cd cnpg && go list -m -f '{{.Dir}}' github.com/cloudnative-pg/cloudnative-pg) \
      || fail cloudnative-pg "go list -m github.com/cloudnative-pg/cloudnative-pg"
    mkdir -p "$dir/crds"
    cp "$mod"/config/crd/bases/*.yaml "$dir/crds/"
    cp "$mod/releases/cnpg-$CNPG_VERSION.yaml" "$dir/cnpg-$CNPG_VERSION.yaml.partial"
    mv "$dir/cnpg-$CNPG_VERSION.yaml.partial" "$dir/cnpg-$CNPG_VERSION.yaml"
  fi
}

build_plugin() {
  local dir=$OPT/plugin-barman-cloud-$PLUGIN_VERSION
  local mod=github.com/cloudnative-pg/plugin-barman-cloud
  if present "$dir/manager"; then
    log "plugin-barman-cloud $PLUGIN_VERSION: present"
  else
    (cd plugin && build plugin "$dir/manager" "-s -w" $mod/cmd/manager)
  fi
  # The module's own manifest (CRD, RBAC, Deployment, Service, cert-manager objects): the
  # sandbox applies it without the cert-manager objects (their Secrets are made instead).
  if [ ! -f "$dir/manifest.yaml" ]; then
    local src
    src=$(cd plugin && go list -m -f '{{.Dir}}' $mod) || fail plugin "go list -m $mod"
    cp "$src/manifest.yaml" "$dir/manifest.yaml.partial"
    mv "$dir/manifest.yaml.partial" "$dir/manifest.yaml"
  fi
}

# The node agent's kubelet API is the project's own code: rebuilt every time (Go's cache makes
# an unchanged build take a second).
build_node() {
  (cd node && build "node agent kubelet-api" "$OPT/node/kubelet-api" "-s -w" .)
}

command -v go >/dev/null 2>&1 || {
  log "missing go: Go 1.26.8 is expected on this machine kind (polyglot)"; exit 1; }

for what in "${@:-etcd k8s cnpg plugin node}"; do
  for w in $what; do
    case $w in
      etcd) build_etcd ;;
      k8s) build_k8s ;;
      cnpg) build_cnpg ;;
      plugin) build_plugin ;;
      node) build_node ;;
      *) log "unknown component $w (etcd, k8s, cnpg, plugin, node)"; exit 2 ;;
    esac
  done
done
