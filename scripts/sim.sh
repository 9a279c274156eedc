#!/usr/bin/env bash
# Runs the VRRP simulator: N seeded schedules of faults (default 100000)
# over simulated routers, from seed FROM (default 1), without root.
# A failing schedule prints the command that replays it; the exit status
# is go test's.
#   ./scripts/sim.sh [N] [FROM]
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
n=${1:-100000}
from=${2:-1}
out=$(mktemp) # a fresh file: never a fixed name in /tmp
trap 'rm -f "$out"' EXIT
go test ./vrrp -run 'TestSimulation$' -count=1 -timeout 0 -v -sim.n="$n" -sim.from="$from" >"$out" 2>&1
status=$?
grep -vE '^(=== RUN|--- PASS|PASS$|ok )' "$out"
exit $status
