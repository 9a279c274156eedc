#!/usr/bin/env bash
# Runs `directord lab`: the seed's LVS-DR setup, live, in network
# namespaces (inside a User-Mode Linux guest when this kernel has no IPVS).
# Installs what it needs first. Pass --script for the unattended scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
./scripts/deps.sh >&2
go build -o /var/tmp/directord-lab-bin ./cmd/directord
exec /var/tmp/directord-lab-bin lab "$@"
