#!/usr/bin/env bash
# Builds the release archive the krew manifest points at and writes its sha256 into
# deploy/krew/cnpgops.yaml:
#   dist/kubectl-cnpgops_v<version>_linux_amd64.tar.gz  (kubectl-cnpgops + README.md)
# A static binary (x86_64-unknown-linux-musl) when that target is installed or installable
# (`rustup target add`, needs the network and a musl linker: musl-tools); otherwise the
# x86_64-unknown-linux-gnu binary, with a NOTE that it needs glibc >= the build machine's.
#   scripts/release.sh                 # build and package
#   scripts/release.sh --binary PATH   # package a binary built elsewhere (no build)
# DIST_DIR (default dist) and KREW_MANIFEST (default deploy/krew/cnpgops.yaml) redirect the
# outputs (the tests package the test binary into a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."

version="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
binary=""
if [[ "${1:-}" == "--binary" ]]; then
  binary="${2:?--binary needs a path}"
fi

target_dir="${CARGO_TARGET_DIR:-target}"
note=""
if [[ -z "$binary" ]]; then
  musl=x86_64-unknown-linux-musl
  if rustup target list --installed 2>/dev/null | grep -qx "$musl" \
     || rustup target add "$musl" >/dev/null 2>&1; then
    if command -v musl-gcc >/dev/null 2>&1 || [[ -n "${CC_x86_64_unknown_linux_musl:-}" ]]; then
      cargo build --release --locked -p cnpgops --target "$musl"
      binary="$target_dir/$musl/release/cnpgops"
    fi
  fi
  if [[ -z "$binary" ]]; then
    note="NOTE: the musl target (or its linker, musl-gcc) is not available here: this is the glibc (x86_64-unknown-linux-gnu) binary, dynamically linked against the build machine's glibc. Build on the oldest glibc you support, or install musl-tools and rustup's $musl target for a static binary."
    echo "$note" >&2
    cargo build --release --locked -p cnpgops
    binary="$target_dir/release/cnpgops"
  fi
fi

linkage="$(file -b "$binary" 2>/dev/null || true)"
case "$linkage" in
  *"statically linked"*|*"static-pie linked"*) ;;
  *) [[ -n "$note" ]] || note="NOTE: $binary is not statically linked ($linkage)"; echo "$note" >&2 ;;
esac

dist="${DIST_DIR:-dist}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$binary" "$stage/kubectl-cnpgops"
cp README.md "$stage/README.md"
[[ -z "$note" ]] || echo "$note" > "$stage/NOTE"
mkdir -p "$dist"
archive="$dist/kubectl-cnpgops_${version}_linux_amd64.tar.gz"
files=(kubectl-cnpgops README.md)
[[ -z "$note" ]] || files+=(NOTE)
tar -C "$stage" --owner=0 --group=0 --mtime='2000-01-01' -czf "$archive" "${files[@]}"
sum="$(sha256sum "$archive" | cut -d' ' -f1)"

manifest="${KREW_MANIFEST:-deploy/krew/cnpgops.yaml}"
sed -i -E \
  -e "s|^(  version: ).*|\1$version|" \
  -e "s|(releases/download/)v[^/]+/kubectl-cnpgops_v[^_]+_|\1$version/kubectl-cnpgops_${version}_|" \
  -e "s|^(      sha256: ).*|\1\"$sum\"|" \
  "$manifest"
echo "$archive"
echo "sha256 $sum (written to $manifest)"
