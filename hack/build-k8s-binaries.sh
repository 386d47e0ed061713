#!/usr/bin/env bash
# Builds Kubernetes components (kube-apiserver, kube-scheduler, kubelet, kubectl, ...) and etcd
# from the Go module proxy, for machines where the usual release downloads cannot be
# reached. Each binary is built once into OUT_DIR and reused afterwards.
#
# usage: hack/build-k8s-binaries.sh OUT_DIR component...
#   components: kube-apiserver kube-scheduler kubelet kube-controller-manager kubectl etcd
#
# Kubernetes components come from k8s.io/kubernetes at $K8S_VERSION built in a scratch
# module that replaces every k8s.io/* staging module (the list is read from the
# kubernetes go.mod itself) with its published v0.x.y twin. etcd comes from a tiny
# main over go.etcd.io/etcd/server/v3/etcdmain at $ETCD_VERSION.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

out=${1:?usage: $0 OUT_DIR component...}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)

staging_version="v0.${K8S_VERSION#v1.}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log() { echo "build-k8s-binaries: $*" >&2; }

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
    go mod tidy -e >/dev/null 2>&1 || true
  )
  k8s_module_ready=1
}

build_k8s() {
  local name=$1
  prepare_k8s_module
  log "building $name ${K8S_VERSION} from the Go module proxy (this takes a few minutes)"
  (cd "$work/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$name" "k8s.io/kubernetes/cmd/$name")
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
    go mod init k8sm.local/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1
    go mod tidy >/dev/null 2>&1
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/etcd" .
  )
}

for c in "$@"; do
  if [ -x "$out/$c" ]; then
    continue
  fi
  case "$c" in
    etcd) build_etcd ;;
    kube-apiserver|kube-scheduler|kubelet|kube-controller-manager|kubectl) build_k8s "$c" ;;
    *) log "unknown component $c"; exit 2 ;;
  esac
done
