package main

import (
	"strings"
	"testing"
)

// A VIP with a zone or in IPv4-mapped form is refused before anything is
// changed, as in the configuration: the zone would be dropped silently
// (the address goes on --dev whatever it names), and ::ffff:192.0.2.1
// would go on as an IPv6 /128 without the ARP settings its IPv4 meaning
// needs. status parses the same way and changes nothing, so it is what
// this test runs: a regression cannot touch this host's lo.
func TestRealserverRefusesZoneAndMappedVIP(t *testing.T) {
	for _, vip := range []string{"fe80::1%lo", "::ffff:192.0.2.1"} {
		code, out, errOut := runCLI(t, "realserver", "status", "--vip", vip)
		if code != exitInvalid || !strings.Contains(errOut, vip) {
			t.Errorf("--vip %s: exit %d, want %d naming it\n%s%s", vip, code, exitInvalid, out, errOut)
		}
	}
}
