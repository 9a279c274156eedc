#!/usr/bin/env bash
# The chaos soak: the end-to-end topology in the UML guest under random
# faults (kill -9, SIGTERM, link flaps, interface re-creation, reloads
# with renames, real servers killed) for DURATION (default 30m), with a
# client request every 20 ms and an observer on the wire. Prints the
# report; fails on a request lost outside a failover window, on two
# directors advertising for more than one advert interval, or on a crash.
# Needs root (namespaces, the guest); installs what it needs first.
#   ./scripts/soak.sh [DURATION]
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
./scripts/deps.sh >&2 || exit 1
dur=${1:-30m}
out=$(mktemp) # a fresh file: never a fixed name in /tmp
trap 'rm -f "$out"' EXIT
DIRECTORD_SOAK=$dur go test ./internal/e2e -run 'TestSoak$' -count=1 -v -timeout 0 >"$out" 2>&1
status=$?
sed -n '/chaos soak:/,/^\s*$/p' "$out" | sed 's/^ *testing.go:[0-9]*: *//'
grep -E '^\s*(--- FAIL|.*_test.go:[0-9]+: .*(failed|two directors|died))' "$out" || true
exit $status
