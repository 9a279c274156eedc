#!/usr/bin/env bash
# Installs what directord's tests and lab need on a Debian machine (run as
# root): User-Mode Linux (the guest kernel with IPVS), keepalived and
# ipvsadm (the reference peer and table reader), tcpdump, tshark (an
# independent dissector of what tcpdump records), iproute2, nftables,
# systemd (systemd-analyze checks the unit file), prometheus (its
# promtool checks and unit-tests the alerting rules in dist/, and a test
# runs the server on them), dig (the nat example's check-dns script),
# zsh (the package test loads its completion), iptables (doctor reads
# legacy iptables rules), bird2 (the BGP router the BGP tests peer
# with) and haproxy (the reference for the checks' CPU in
# ./scripts/bench.sh checks); then the Go modules, the
# daemon's and packaging/'s, through the module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in linux.uml:user-mode-linux keepalived:keepalived ipvsadm:ipvsadm \
            tcpdump:tcpdump tshark:tshark ip:iproute2 nft:nftables systemd-analyze:systemd \
            promtool:prometheus dig:bind9-dnsutils zsh:zsh \
            iptables-legacy-restore:iptables bird:bird2 haproxy:haproxy; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" != 0 ]; then
  echo "missing ${need[*]}: run as root (for example with sudo) to install them" >&2
  exit 1
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark's wireshark-common asks whether users outside the wireshark
  # group may capture; the tests capture as root, so no (and no prompt).
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The tests run their own Prometheus server; the package's service
  # (port 9090), which a machine booted with systemd would start, is not
  # wanted.
  if [[ " ${need[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
  # Nor HAProxy's: the benchmark runs its own.
  if [[ " ${need[*]} " == *" haproxy "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now haproxy.service >/dev/null 2>&1 || true
  fi
fi

if ! command -v go >/dev/null 2>&1; then
  export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
  # Debian's golang-go is older than the module's go 1.26 (and than the
  # toolchain switch), so it would not help.
  echo "directord needs Go 1.26 or newer: unpack it into /usr/local/go (https://go.dev/dl/)" >&2
  exit 1
fi
go mod download
(cd packaging && go mod download)
