#!/usr/bin/env bash
# Runs `directord lab`: the seed's LVS-DR setup, live, in network
# namespaces (inside a User-Mode Linux guest when this kernel has no IPVS).
# Installs what it needs first. Pass --script for the unattended scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
./scripts/deps.sh >&2
# The binary runs as root and the guest must see it, so it goes to a fresh
# private directory under /var/tmp (the guest has its own /tmp), never to
# a fixed name another user could have created.
bindir=$(mktemp -d /var/tmp/directord-lab-bin.XXXXXX)
trap 'rm -rf "$bindir"' EXIT
go build -o "$bindir/directord" ./cmd/directord
"$bindir/directord" lab "$@"
