#!/usr/bin/env bash
# Installs what the tests need from Debian's packages, once: ZooKeeper (zk:// leader
# detection is tested against a real server); containerd, runc, the CNI plugins and a
# static busybox (the executor's kubelet runtime is tested against a real kubelet, with
# a local busybox image; make demo serves HTTP with its httpd). Needs root (CI runs as root); elsewhere it says what to install
# and the tests that need them skip.
set -euo pipefail

need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
{ [ -x /bin/busybox ] && [ "$(/bin/busybox --list 2>/dev/null | grep -cx -e httpd -e wget)" = 2 ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
command -v ip >/dev/null || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-deps: please install ${need[*]} (Debian/Ubuntu: apt-get install ${need[*]}); tests that need them skip" >&2
  exit 0
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
