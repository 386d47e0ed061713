#!/usr/bin/env bash
# Builds metrics-server from the Go module proxy, for the e2e spec of `kubectl top`
# (test/e2e/top_test.go), on machines where its release images cannot be reached. The
# binary is built once into OUT_DIR/<version>/metrics-server and reused afterwards.
#
# usage: hack/build-metrics-server.sh OUT_DIR    (METRICS_SERVER_VERSION=v0.8.0)
#
# It is a program, not a library of this module: it is built in a scratch module that
# records it as a tool (go get -tool), so its own go.mod chooses its dependencies and
# this module's go.mod stays as it is.
set -euo pipefail

METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}

out=${1:?usage: $0 OUT_DIR}
out="$out/$METRICS_SERVER_VERSION"
[ -x "$out/metrics-server" ] && exit 0
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "build-metrics-server: building metrics-server ${METRICS_SERVER_VERSION} from the Go module proxy (about 10 minutes on 2 cores, once)" >&2
cd "$work"
go mod init k8sm.local/metrics-server >/dev/null 2>&1
# go get lists every module it downloads: shown only when it fails.
if ! go get -tool "sigs.k8s.io/metrics-server/cmd/metrics-server@${METRICS_SERVER_VERSION}" >go.log 2>&1; then
  cat go.log >&2
  exit 1
fi
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/metrics-server.tmp" sigs.k8s.io/metrics-server/cmd/metrics-server
# Renamed only when whole, so an interrupted build is not taken for a finished one.
mv "$out/metrics-server.tmp" "$out/metrics-server"
