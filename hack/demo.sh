#!/usr/bin/env bash
# The embedded default: a local kube-apiserver, mesos-sim, the manager and the executor.
set -euo pipefail
cat <<'MSG'
The local default (kube-apiserver + etcd + mesos-sim + manager + executor in one command)
is not there yet: its parts are being built. Today you can:
  make envtest   # build kube-apiserver and etcd into bin/ (from the Go module proxy if need be)
  make test      # run the tests against them
MSG
exit 1
