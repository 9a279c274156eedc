#!/usr/bin/env bash
# Runs every test of directord, as root on a Debian machine: formatting,
# vet, unit tests, the namespace tests on this kernel and the IPVS tests
# inside a User-Mode Linux guest. Missing prerequisites fail the run
# instead of skipping tests (CI=true), so a PASS means the real-kernel
# tests really ran.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
export CI="${CI:-true}"

./scripts/deps.sh

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then
  echo "gofmt would change:"; echo "$bad"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test"
log=$(mktemp /var/tmp/directord-test.XXXXXX.log)
status=0
# Packages run one at a time (-p 1): the guest-kernel tests time
# failovers and health checks to the millisecond in a one-CPU UML guest,
# and the VRRP simulator keeps both of this machine's cores busy for a
# while; side by side, the guest misses its deadlines. The end-to-end and
# lab packages, the longest, go last.
serial="directord/internal/e2e directord/internal/lab"
rest=$(go list ./... | grep -vxF -e ${serial// / -e })
# -parallel 10: the ten keepalived interop cells (30 s of steady state
# each, light on CPU) run in one wave, not two.
go test -count=1 -timeout 20m -p 1 -parallel 10 -v "$@" $rest >"$log" 2>&1 || status=$?
# packaging/ is a module of its own (nfpm stays out of the daemon's
# go.mod): its test builds the .deb and installs it in a fresh root.
(cd packaging && go vet ./... && go test -count=1 -timeout 10m -v "$@" ./...) >>"$log" 2>&1 || status=$?
go test -count=1 -timeout 20m -p 1 -v "$@" $serial >>"$log" 2>&1 || status=$?
grep -E '^(ok|FAIL|---|panic:|\?)' "$log" | grep -vE '^    ' || true
echo "== summary: $(grep -cE '^ *--- PASS' "$log" || true) passed," \
     "$(grep -cE '^ *--- SKIP' "$log" || true) skipped," \
     "$(grep -cE '^ *--- FAIL' "$log" || true) failed (full log: $log)"
if [ "$status" -ne 0 ]; then
  echo "== failures:"
  grep -B2 -A30 -- '--- FAIL' "$log" | head -200 || true
fi
exit "$status"
