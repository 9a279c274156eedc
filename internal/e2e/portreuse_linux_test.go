package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/lab"
)

// getFrom sends one HTTP/1.0 request to the VIP from the client's local
// port and returns who answered. The server closes first, so the port
// is free again at once (no TIME_WAIT on the client), as a client's
// kernel may hand it out again while the director still holds the
// entry of the last connection from it.
func getFrom(client *lab.Host, port int) (string, error) {
	var who string
	err := client.NS.Do(func() error {
		d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: client.Addr.AsSlice(), Port: port}}
		var c net.Conn
		var err error
		// The last connection from the port may still be closing.
		for range 20 {
			if c, err = d.Dial("tcp", lab.VIP.String()+":80"); !errors.Is(err, syscall.EADDRINUSE) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := fmt.Fprint(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n"); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, body, ok := strings.Cut(string(b), "\r\n\r\n")
		if !ok {
			return fmt.Errorf("no HTTP response: %q", b)
		}
		who = strings.TrimSpace(body)
		return nil
	})
	return who, err
}

// portTo finds a client port whose connection the director sent to
// real (wrr spreads them; at most 40 tries).
func portTo(client *lab.Host, real string) (int, error) {
	for port := 41000; port < 41080; port += 2 {
		if who, err := getFrom(client, port); err == nil && who == real {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no connection from ports 41000-41078 went to %s", real)
}

// checkReusedPort sends a request from the client's port reused, whose
// last connection went to old, after old's weight is 0 on both
// directors. With expire_nodest_conn the director must schedule the new
// connection afresh: the SYN-ACK comes from another real (clientWire,
// the client's capture of SYNs and RSTs) and so does the answer.
//
// One failure is the kernel's, not directord's, and is only logged: the
// SYN went to another real, then the request, sent within a
// millisecond, went to old through the old connection's entry, which a
// resize of 7.x's connection table had put ahead of the new one before
// the old entry expired (2 of 930 tries of a loop in the guest, 3 of 12
// recorded CI runs; README, "Connections through a failover"). The
// client then waits for an answer that never comes. Two captures tell
// that case apart: the client's shows the SYN-ACK from another real,
// lb1's shows the connection's later packets sent on to old.
func checkReusedPort(t *testing.T, p *pair, clientWire *harness.Capture, reused int, old string) {
	t.Helper()
	names := map[string]string{}
	for name, h := range p.lab.Hosts {
		names[h.Port.MAC.String()] = name
	}
	lb1 := p.lab.Hosts["lb1"]
	fwd := harness.Tcpdump(t, lb1.NS, lb1.Port.IfName, fmt.Sprintf("tcp and src port %d and dst port 80", reused))
	defer fwd.Stop()
	sent := time.Now()
	who, err := getFrom(p.lab.Client, reused)
	synack := fmt.Sprintf("> %s.%d: Flags [S.]", p.lab.Client.Addr, reused)
	f, ok := clientWire.WaitFor(sent, time.Second, func(f harness.Frame) bool { return strings.Contains(f.Line, synack) })
	by := names[f.SrcMAC]
	elsewhere := ok && by != "" && by != old
	_, toOld := fwd.WaitFor(sent, 500*time.Millisecond, func(f harness.Frame) bool {
		return names[f.SrcMAC] == "lb1" && names[f.DstMAC] == old
	})
	switch {
	case elsewhere && err == nil && who != old:
		return
	case elsewhere && err != nil && toOld:
		t.Logf("from port %d, whose last connection went to %s: the SYN went to %s, then lb1 sent the connection's later packets to %s and the request went unanswered (%v): the kernel's race, see checkReusedPort", reused, old, by, old, err)
	default:
		t.Errorf("from port %d, whose last connection went to %s, after its weight was 0: SYN answered by %q (seen: %v), later packets sent to %s: %v; answer from %q, %v", reused, old, by, ok, old, toOld, who, err)
	}
	for _, f := range append(clientWire.Frames(), fwd.Frames()...) {
		if f.At.After(sent.Add(-time.Second)) && (strings.Contains(f.Line, fmt.Sprintf(".%d ", reused)) || strings.Contains(f.Line, fmt.Sprintf(".%d:", reused))) {
			t.Logf("  wire: %s (%s > %s)", f.Line, names[f.SrcMAC], names[f.DstMAC])
		}
	}
	if out, err := lb1.NS.Run("ipvsadm", "-Lcn"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, fmt.Sprintf(":%d ", reused)) {
				t.Logf("  lb1 ipvsadm -Lcn: %s", line)
			}
		}
	}
}
