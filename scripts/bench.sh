#!/usr/bin/env bash
# Runs directord's benchmarks, each against its reference (keepalived,
# ipvsadm) in the same run, and prints medians and ratios.
#   ./scripts/bench.sh            # all of them
#   ./scripts/bench.sh failover   # VRRP failover vs keepalived
#   ./scripts/bench.sh checks     # 10,000 and 1,000 TCP checks/s vs HAProxy; 1,000 vs keepalived in UML
#   ./scripts/bench.sh ipvs       # 1,000 x 4 cold sync vs ipvsadm -R, in UML
#   ./scripts/bench.sh sync       # connections through failover vs keepalived, and
#                                 # the sync daemons' cost at 10,000 connections/s, in UML
#   ./scripts/bench.sh bgp        # three ECMP directors in BGP mode vs a keepalived pair,
#                                 # behind a BIRD router, in UML
#   ./scripts/bench.sh scrapes    # a health flip's IPVS write with and without 8 scrape
#                                 # loops on /metrics and /v1/status (fakes, no root)
#   ./scripts/bench.sh config     # validate and check --once of a file of 10,000 real
#                                 # servers: time and peak RSS ($DIRECTORD_CONFIG_REF: another
#                                 # directord binary measured in the same run)
#   ./scripts/bench.sh reload     # reload at 10,000 x 4: one real changed, nothing changed;
#                                 # in process on the fakes, then the real binary in UML
#   ./scripts/bench.sh start      # directord run at 10,000 real servers (TCP checks, IPVS,
#                                 # VRRP): peak RSS against keepalived's, in UML
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
./scripts/deps.sh

run_failover() {
  go test ./vrrp -run '^$' -bench Failover -benchtime 1x -timeout 30m
}

run_checks() {
  go test ./healthcheck -run '^$' -bench 'Checks$|ChecksVsKeepalived' -benchtime 1x -timeout 30m
}

run_ipvs() {
  go test ./lvs -run '^$' -bench 'Sync$' -benchtime 1x -timeout 30m
}

run_sync() {
  go test ./internal/e2e -run '^$' -bench 'FailoverSurvival|SyncDaemonLoad' -benchtime 1x -timeout 60m
}

run_config() {
  go test ./cmd/directord -run '^$' -bench 'ConfigScale' -benchtime 1x -timeout 30m
}

run_bgp() {
  go test ./internal/e2e -run '^$' -bench 'BGPECMP' -benchtime 1x -timeout 60m
}

run_scrapes() {
  go test ./internal/daemon -run '^$' -bench 'FlipUnderScrapes' -benchtime 1x -timeout 30m
}

run_reload() {
  go test ./internal/daemon -run '^$' -bench 'ReloadScale' -benchtime 1x -timeout 30m
  go test ./internal/e2e -run '^$' -bench 'ReloadScale' -benchtime 1x -timeout 60m
}

run_start() {
  go test ./internal/e2e -run '^$' -bench 'StartScale' -benchtime 1x -timeout 30m
}

case "${1:-all}" in
  failover) run_failover ;;
  checks) run_checks ;;
  ipvs) run_ipvs ;;
  sync) run_sync ;;
  bgp) run_bgp ;;
  scrapes) run_scrapes ;;
  config) run_config ;;
  reload) run_reload ;;
  start) run_start ;;
  all) run_failover; run_checks; run_ipvs; run_sync; run_bgp; run_scrapes; run_config; run_reload; run_start ;;
  *) echo "unknown benchmark: $1 (failover, checks, ipvs, sync, bgp, scrapes, config, reload, start)" >&2; exit 2 ;;
esac
