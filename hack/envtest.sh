#!/usr/bin/env bash
# Prints the directory holding kube-apiserver and etcd for envtest (KUBEBUILDER_ASSETS),
# obtaining them once: first the usual setup-envtest download, and where that cannot be
# reached (a machine whose only network is the Go module proxy), a build of both from the
# Go module proxy by hack/build-k8s-binaries.sh. Later calls reuse what is in bin/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${LOCALBIN:-$root/bin}
ENVTEST_K8S_VERSION=${ENVTEST_K8S_VERSION:-1.37.2}
SETUP_ENVTEST_VERSION=${SETUP_ENVTEST_VERSION:-v0.25.1}
built="$bin/k8s/$ENVTEST_K8S_VERSION"

log() { echo "envtest: $*" >&2; }

have() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

# built_current says whether $built holds component $1 built at its version (etcd's is
# ETCD_VERSION, which build-k8s-binaries.sh records beside it).
built_current() { K8S_VERSION="v$ENVTEST_K8S_VERSION" "$root/hack/build-k8s-binaries.sh" --check "$built" "$@"; }

if built_current etcd kube-apiserver; then
  echo "$built"
  exit 0
fi

# The usual way: setup-envtest downloads released binaries. It is kept as
# bin/setup-envtest-<version>, bin/setup-envtest a symlink to it, as the Makefile keeps its
# tools: a new SETUP_ENVTEST_VERSION installs that version instead of using an older one.
if [ "${K8SM_SKIP_ENVTEST_DOWNLOAD:-}" != "1" ]; then
  setup="$bin/setup-envtest-$SETUP_ENVTEST_VERSION"
  if [ ! -x "$setup" ]; then
    tmp=$(mktemp -d)
    if GOBIN="$tmp" go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" >&2; then
      mkdir -p "$bin"
      mv "$tmp/setup-envtest" "$setup"
    fi
    rm -rf "$tmp"
  fi
  if [ -x "$setup" ]; then
    ln -sfn "$(basename "$setup")" "$bin/setup-envtest"
    if dir=$(timeout 60 "$setup" use "$ENVTEST_K8S_VERSION" --bin-dir "$bin" -p path 2>/dev/null) && have "$dir"; then
      echo "$dir"
      exit 0
    fi
    log "the envtest download could not be reached"
  fi
fi

# The build takes a while the first time: say so before it starts, naming what is missing.
missing=()
for b in kube-apiserver etcd; do
  built_current "$b" || missing+=("$b")
done
if [ "${#missing[@]}" -gt 0 ]; then
  what=${missing[*]}
  what=${what/ / and }
  took="about 2 minutes"
  built_current kube-apiserver || took="10 to 20 minutes"
  log "Building $what from the Go module proxy once ($took on 2 cores); later runs start at once."
fi
K8S_VERSION="v$ENVTEST_K8S_VERSION" "$root/hack/build-k8s-binaries.sh" "$built" etcd kube-apiserver
have "$built" || { log "kube-apiserver and etcd are missing from $built"; exit 1; }
echo "$built"
