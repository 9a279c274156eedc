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

# Debian 12's UML (6.1) cannot run a single process on a host whose CPU
# has AMX: it hands ptrace a floating-point register buffer smaller than
# the host's XSAVE area, the host refuses it ("ptrace set fp regs failed,
# errno = 14") and init dies of SIGSEGV. Newer UML sizes the buffer from
# the host. There, unpack Debian unstable's user-mode-linux (and the C
# library it needs, which Debian 12's is too old for) into
# /opt/directord-uml, outside the system's package database, and point
# the kernel at that library; the tests use it when it is there
# (internal/uml.FindKernel).

# uml_boot BIN boots BIN with /bin/true as init and prints what it said
# (call it with 2>/dev/null: the shell's own "Aborted" for a kernel that
# panics goes there).
uml_boot() {
  local dir
  dir=$(mktemp -d)
  timeout 60 "$1" mem=64M rootfstype=hostfs rootflags=/ ro init=/bin/true uml_dir="$dir" \
    con=null con0=fd:0,fd:1 quiet panic=-1 </dev/null 2>&1 || true
  rm -rf "$dir"
}
private_uml=/opt/directord-uml
if [ "$(id -u)" = 0 ] && [ ! -x "$private_uml/usr/bin/linux.uml" ] &&
   uml_boot /usr/bin/linux.uml 2>/dev/null | grep -q 'ptrace set fp regs failed'; then
  echo "== Debian 12's User-Mode Linux cannot run a process on this CPU: unpacking Debian unstable's into $private_uml"
  command -v patchelf >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends patchelf >/dev/null
  apt_dir=$(mktemp -d)
  trap 'rm -rf "$apt_dir" "$private_uml.new"' EXIT
  mkdir -p "$apt_dir"/lists/partial "$apt_dir"/cache/archives/partial
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" >"$apt_dir/sources.list"
  apt_opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$apt_dir" && apt-get "${apt_opts[@]}" download -qq user-mode-linux/sid libc6/sid)
  rm -rf "$private_uml.new"
  install -d -m 0700 "$private_uml.new"
  for deb in "$apt_dir"/*.deb; do dpkg-deb -x "$deb" "$private_uml.new"; done
  chmod 0700 "$private_uml.new"
  lib="$private_uml/usr/lib/x86_64-linux-gnu"
  patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --set-rpath "$lib" "$private_uml.new/usr/bin/linux.uml"
  rm -rf "$private_uml"
  mv "$private_uml.new" "$private_uml"
  # The tests prefer this kernel whenever it is there: one that does not
  # boot either must not stay.
  if ! uml_boot "$private_uml/usr/bin/linux.uml" 2>/dev/null | grep -q 'exitcode=0x00000000'; then
    rm -rf "$private_uml"
    echo "Debian unstable's User-Mode Linux does not run a process here either; removed it" >&2
    exit 1
  fi
  rm -rf "$apt_dir"
  trap - EXIT
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
