#!/usr/bin/env bash
# Runs `directord lab`: the seed's LVS-DR setup, live, in network
# namespaces (inside a User-Mode Linux guest when this kernel has no IPVS).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
./scripts/deps.sh
if ! go run ./cmd/directord lab --help >/dev/null 2>&1; then
  echo "directord lab is not built yet (issue 7); run ./scripts/test.sh meanwhile" >&2
  exit 1
fi
exec go run ./cmd/directord lab "$@"
