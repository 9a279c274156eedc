package healthcheck

import (
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// udpEcho answers every datagram with "pong:" and the datagram.
func udpEcho(t *testing.T, pc net.PacketConn) {
	t.Helper()
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("pong:"), buf[:n]...), from)
		}
	}()
}

// A udp check against a real server in another network namespace: a
// matching reply is up, a reply that does not match is down, a closed
// port (ICMP port unreachable) is refused, a dropped datagram is a
// timeout when a reply is required and up otherwise (keepalived's
// UDP_CHECK), and a host without a route is unreachable.
func TestUDPInNamespaces(t *testing.T) {
	testenv.RequireCommand(t, "nft")
	lan := netnstest.NewLAN(t, map[string]string{"cli": "10.77.0.1/24", "srv": "10.77.0.2/24"})
	srv := lan.Hosts["srv"].NS
	err := srv.Do(func() error {
		pc, err := net.ListenPacket("udp4", "10.77.0.2:5353")
		if err != nil {
			return err
		}
		udpEcho(t, pc)
		dropped, err := net.ListenPacket("udp4", "10.77.0.2:5354")
		if err != nil {
			return err
		}
		udpEcho(t, dropped)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rules := "add table inet t\nadd chain inet t in { type filter hook input priority 0; }\nadd rule inet t in udp dport 5354 drop\n"
	rulesFile := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Run("nft", "-f", rulesFile); err != nil {
		t.Fatal(err)
	}
	ping := hex.EncodeToString([]byte("ping"))
	s := func(target string, mod func(*Spec)) Spec {
		// Long enough for a loaded machine, except where silence is
		// the point.
		sp := Spec{Type: TypeUDP, Target: addrPort(t, target), Timeout: 2 * time.Second, Params: &Params{PayloadHex: ping}}
		mod(&sp)
		return sp
	}
	var got []Result
	err = lan.Hosts["cli"].NS.Do(func() error {
		for _, sp := range []Spec{
			s("10.77.0.2:5353", func(sp *Spec) { sp.ReplyRegex = `^pong:ping$` }),
			s("10.77.0.2:5353", func(sp *Spec) { sp.ReplyRegex = `^pong:pang$` }),
			s("10.77.0.2:5353", func(sp *Spec) { sp.RequireReply = true }),
			s("10.77.0.2:5355", func(sp *Spec) {}),
			s("10.77.0.2:5354", func(sp *Spec) { sp.RequireReply, sp.Timeout = true, 300*time.Millisecond }),
			s("10.77.0.2:5354", func(sp *Spec) { sp.Timeout = 300 * time.Millisecond }),
			s("10.200.0.1:53", func(sp *Spec) {}),
		} {
			got = append(got, check(t, sp))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, got[0], true, "reply (9 bytes)")
	expect(t, got[1], false, "does not match reply_regex")
	expect(t, got[2], true, "reply (9 bytes)")
	expect(t, got[3], false, "refused")
	expect(t, got[4], false, "timeout")
	if got[4].Latency < 250*time.Millisecond || got[4].Latency > time.Second {
		t.Errorf("timeout after %s, want about 300ms", got[4].Latency)
	}
	expect(t, got[5], true, "no ICMP error")
	expect(t, got[6], false, "unreachable")
}

// Binary replies are matched by reply_hex, a prefix of the reply's bytes
// (a Go regexp reads UTF-8: \xff would be the rune ÿ, not the byte).
func TestUDPBinaryReply(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udpEcho(t, pc)
	target := addrPort(t, pc.LocalAddr().String())
	r := check(t, Spec{Type: TypeUDP, Target: target, Timeout: time.Second, Params: &Params{PayloadHex: "00ff01", ReplyHex: hex.EncodeToString([]byte("pong:\x00\xff"))}})
	expect(t, r, true, "reply (8 bytes)")
	r = check(t, Spec{Type: TypeUDP, Target: target, Timeout: time.Second, Params: &Params{PayloadHex: "00ff01", ReplyHex: "00ff01"}})
	expect(t, r, false, "does not start with reply_hex")
	if _, err := New(Spec{Type: TypeUDP, Target: target, Params: &Params{PayloadHex: "zz"}}); err == nil {
		t.Error("a payload that is not hex was accepted")
	}
}
