#!/usr/bin/env bash
# Runs directord's benchmarks, each against its reference (keepalived,
# ipvsadm) in the same run, and prints medians and ratios.
#   sudo ./scripts/bench.sh            # all of them
#   sudo ./scripts/bench.sh failover   # VRRP failover vs keepalived
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
./scripts/deps.sh

run_failover() {
  go test ./vrrp -run '^$' -bench Failover -benchtime 1x -timeout 30m
}

case "${1:-all}" in
  failover) run_failover ;;
  all) run_failover ;;
  *) echo "unknown benchmark: $1 (failover)" >&2; exit 2 ;;
esac
