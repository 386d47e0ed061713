#!/usr/bin/env bash
# Builds Kubernetes components (kube-apiserver, kube-scheduler, kubelet, kubectl, ...) and etcd
# from the Go module proxy, for machines where the usual release downloads cannot be
# reached. Each binary is built once into OUT_DIR and reused afterwards.
#
# usage: hack/build-k8s-binaries.sh [--check] OUT_DIR component...
#   components: kube-apiserver kube-scheduler kubelet kube-controller-manager kubectl etcd
#   --check: build nothing; exit 0 when every component is there at its version, else 1.
#
# Each binary's version is recorded beside it (OUT_DIR/.<component>.version): one of
# another version (ETCD_VERSION or K8S_VERSION changed, OUT_DIR not named by the
# version) is built again. A binary without that record counts as of its version when
# it says so (etcd --version), or, for Kubernetes components, which do not (built
# without the release's version stamp), when OUT_DIR is named by K8S_VERSION, as
# bin/k8s/<version> is.
#
# Kubernetes components come from k8s.io/kubernetes at $K8S_VERSION built in a scratch
# module that replaces every k8s.io/* staging module (the list is read from the
# kubernetes go.mod itself) with its published v0.x.y twin. etcd comes from a tiny
# main over go.etcd.io/etcd/server/v3/etcdmain at $ETCD_VERSION.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

check_only=""
if [ "${1:-}" = "--check" ]; then
  check_only=1
  shift
fi
out=${1:?usage: $0 [--check] OUT_DIR component...}
shift

log() { echo "build-k8s-binaries: $*" >&2; }

# want is the version component $1 is to be built at.
want() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    *) echo "$K8S_VERSION" ;;
  esac
}

# current says whether $out/$1 is there and of the version wanted, recording that
# version when the binary had no record yet.
current() {
  local c=$1 v
  v=$(want "$c")
  [ -x "$out/$c" ] || return 1
  if [ -f "$out/.$c.version" ]; then
    [ "$(cat "$out/.$c.version")" = "$v" ]
    return
  fi
  case "$c" in
    etcd) "$out/etcd" --version 2>/dev/null | grep -qx "etcd Version: ${v#v}" || return 1 ;;
    *) [ "$(basename "$out")" = "${v#v}" ] || return 1 ;;
  esac
  echo "$v" >"$out/.$c.version" 2>/dev/null || true
}

if [ -n "$check_only" ]; then
  [ -d "$out" ] || exit 1
  out=$(cd "$out" && pwd)
  for c in "$@"; do
    current "$c" || exit 1
  done
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)

staging_version="v0.${K8S_VERSION#v1.}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# quiet runs a go command with its output in a file, shown only when it fails.
quiet() {
  if ! "$@" >"$work/go.log" 2>&1; then
    log "failed: $*"
    cat "$work/go.log" >&2
    return 1
  fi
}

# place moves a finished build into place and records its version: renamed only when
# whole, so an interrupted build is not taken for a finished one.
place() {
  local c=$1
  mv "$out/$c.tmp" "$out/$c"
  want "$c" >"$out/.$c.version"
}

k8s_module_ready=""
prepare_k8s_module() {
  [ -n "$k8s_module_ready" ] && return 0
  local dir="$work/k8s"
  mkdir -p "$dir"
  (
    cd "$dir"
    gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [ -f "$gomod" ] || { log "cannot read the go.mod of k8s.io/kubernetes@${K8S_VERSION}"; exit 1; }
    go_line=$(grep -m1 '^go ' "$gomod")
    {
      echo "module k8sm.local/k8s-binaries"
      echo
      echo "$go_line"
      echo
      echo "require k8s.io/kubernetes ${K8S_VERSION}"
      echo
      echo "replace ("
      grep -E '^\s*k8s\.io/[^ ]+ => \./staging/src/' "$gomod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
      echo ")"
    } >go.mod
    cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
    # -e: tidy reports the test-only imports of k8s.io/kubernetes that no published
    # module provides, which the build does not need; a real failure shows in the build.
    go mod tidy -e >go-tidy.log 2>&1 || true
  )
  k8s_module_ready=1
}

build_k8s() {
  local name=$1
  prepare_k8s_module
  log "building $name ${K8S_VERSION} from the Go module proxy (this takes a few minutes)"
  if ! (cd "$work/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$name.tmp" "k8s.io/kubernetes/cmd/$name"); then
    log "building $name failed; go mod tidy said:"
    cat "$work/k8s/go-tidy.log" >&2
    return 1
  fi
  place "$name"
}

build_etcd() {
  local dir="$work/etcd"
  mkdir -p "$dir"
  log "building etcd ${ETCD_VERSION} from the Go module proxy"
  (
    cd "$dir"
    cat >main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    # go get lists every module it downloads: shown only when something fails.
    quiet go mod init k8sm.local/etcd
    quiet go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    quiet go mod tidy
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/etcd.tmp" .
  )
  place etcd
}

for c in "$@"; do
  if current "$c"; then
    continue
  fi
  case "$c" in
    etcd) build_etcd ;;
    kube-apiserver|kube-scheduler|kubelet|kube-controller-manager|kubectl) build_k8s "$c" ;;
    *) log "unknown component $c"; exit 2 ;;
  esac
done
