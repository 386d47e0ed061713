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

if have "$built"; then
  echo "$built"
  exit 0
fi

# The usual way: setup-envtest downloads released binaries.
if [ "${K8SM_SKIP_ENVTEST_DOWNLOAD:-}" != "1" ]; then
  if [ ! -x "$bin/setup-envtest" ]; then
    GOBIN="$bin" go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" >&2 || true
  fi
  if [ -x "$bin/setup-envtest" ]; then
    if dir=$(timeout 60 "$bin/setup-envtest" use "$ENVTEST_K8S_VERSION" --bin-dir "$bin" -p path 2>/dev/null) && have "$dir"; then
      echo "$dir"
      exit 0
    fi
    log "the envtest download could not be reached"
  fi
fi

# The build takes a while the first time: say so before it starts, naming what is missing.
missing=()
for b in kube-apiserver etcd; do
  [ -x "$built/$b" ] || missing+=("$b")
done
if [ "${#missing[@]}" -gt 0 ]; then
  what=${missing[*]}
  what=${what/ / and }
  took="about 2 minutes"
  [ ! -x "$built/kube-apiserver" ] && took="10 to 20 minutes"
  log "Building $what from the Go module proxy once ($took on 2 cores); later runs start at once."
fi
K8S_VERSION="v$ENVTEST_K8S_VERSION" "$root/hack/build-k8s-binaries.sh" "$built" etcd kube-apiserver
have "$built" || { log "kube-apiserver and etcd are missing from $built"; exit 1; }
echo "$built"
