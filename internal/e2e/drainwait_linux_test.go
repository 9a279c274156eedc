package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"directord/internal/lab"
)

// drainWaitConns is how many long-lived connections drain --wait waits
// out, and closeEvery the pace at which the client closes them.
const (
	drainWaitConns = 50
	closeEvery     = 60 * time.Millisecond
)

// directord drain --wait against real connections: 50 long-lived TCP
// connections through the VIP to rs3 (rs1 and rs2 drained first, so
// every one lands there; lb2 stopped, so that no VRRP flap in the loaded
// guest splits them between two tables), rs3 drained with --wait, the connections
// closed by the client one by one over three seconds. drain --wait must
// not return while any is open, and must return soon after the last
// closes; ipvsadm on the master then shows rs3 at weight 0 with no
// active connection. The delay after the last close is reported.
func TestDrainWaitRealConnections(t *testing.T) {
	bin, done := guestBinary(t)
	if done {
		return
	}
	s, err := startSurvival(t, bin, impl{name: "directord"}, lab.EchoService{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.waitFor("lb1 master, lb2 backup", func() bool { return s.lb1.State() == "MASTER" && s.lb2.State() == "BACKUP" }); err != nil {
		t.Fatal(err)
	}
	sock := s.lb1.(directordNode).Socket
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--socket", sock)...).CombinedOutput()
		if err != nil {
			t.Fatalf("directord %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("$ directord %s\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	lb1 := s.lab.Hosts["lb1"].NS
	// lb1 alone: in the one-CPU guest on a loaded host the backup can
	// miss 100 ms adverts, take the VIP for a moment and split the
	// connections between the two directors' tables.
	s.lb2.Term()
	cli("drain", "echo", "192.168.11.12")
	cli("drain", "echo", "192.168.11.13")
	waitWeight(t, lb1, "192.168.11.13", 0, 5*time.Second)

	conns := make([]net.Conn, 0, drainWaitConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range drainWaitConns {
		c, real, err := echoDial(s.lab.Client, s.srcs[i%len(s.srcs)], s.dst)
		for try := 1; err != nil && try < 5; try++ {
			// The one-CPU guest on a loaded host can miss a SYN-ACK
			// deadline, or rs3's check a probe (all weights 0: the
			// director refuses); what is tested here comes after.
			t.Logf("connection %d: %v; again", i+1, err)
			if try == 1 {
				cli("status") // a check flapping?
			}
			time.Sleep(time.Second)
			c, real, err = echoDial(s.lab.Client, s.srcs[i%len(s.srcs)], s.dst)
		}
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		conns = append(conns, c)
		if real != "rs3" {
			t.Fatalf("connection %d reached %s; rs1 and rs2 are drained", i+1, real)
		}
	}
	cli("status")
	if n := activeConns(t, lb1, "192.168.11.14"); n != drainWaitConns {
		t.Fatalf("ipvsadm shows %d active connections to rs3, want %d", n, drainWaitConns)
	}

	var out bytes.Buffer
	wait := exec.Command(bin, "drain", "--wait", "--timeout", "60s", "echo", "192.168.11.14", "--socket", sock)
	wait.Stdout, wait.Stderr = &out, &out
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var exitedAt time.Time
	go func() { err := wait.Wait(); exitedAt = time.Now(); exited <- err }()
	waitWeight(t, lb1, "192.168.11.14", 0, 5*time.Second)
	// Still open, all 50: drain --wait must still be waiting.
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-exited:
		t.Fatalf("drain --wait returned with every connection open (%v):\n%s", err, out.String())
	default:
	}
	var lastClose time.Time
	for i, c := range conns {
		c.Close()
		lastClose = time.Now()
		if i < len(conns)-1 {
			time.Sleep(closeEvery)
		}
		if i == len(conns)-2 {
			select {
			case err := <-exited:
				t.Fatalf("drain --wait returned with a connection open (%v):\n%s", err, out.String())
			default:
			}
		}
	}
	conns = nil
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("drain --wait did not return 30 s after the last connection closed:\n%s", out.String())
	}
	took := exitedAt.Sub(lastClose)
	t.Logf("$ directord drain --wait --timeout 60s echo 192.168.11.14\n%s", out.String())
	if werr != nil || !strings.Contains(out.String(), fmt.Sprintf("echo 192.168.11.14:%d: no active connections left", lab.EchoPort)) {
		t.Fatalf("drain --wait: %v\n%s", werr, out.String())
	}
	if took > 2*time.Second {
		t.Errorf("drain --wait returned %s after the last close; it polls every 200 ms", took)
	}
	if n := activeConns(t, lb1, "192.168.11.14"); n != 0 {
		t.Errorf("ipvsadm shows %d active connections to rs3 after drain --wait returned", n)
	}
	msg := fmt.Sprintf("drain --wait: %d connections closed one every %s; it returned %s after the last close",
		drainWaitConns, closeEvery, took.Round(time.Millisecond))
	t.Log(msg)
	fmt.Println(msg)
	cli("undrain", "echo", "192.168.11.12")
	cli("undrain", "echo", "192.168.11.13")
	cli("undrain", "echo", "192.168.11.14")
	waitWeight(t, lb1, "192.168.11.14", 6, 5*time.Second)
	if out, err := lb1.Run("ipvsadm", "-Ln"); err == nil {
		t.Logf("$ ipvsadm -Ln\n%s", out)
	}
	cli("status")
}

// echoDial opens a connection from the client to the echo service and
// returns the name of the real that answered its first line.
func echoDial(h *lab.Host, src netip.Addr, dst netip.AddrPort) (net.Conn, string, error) {
	var c net.Conn
	err := h.NS.Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		var err error
		c, err = d.Dial("tcp4", dst.String())
		return err
	})
	if err != nil {
		return nil, "", err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "0\n"); err != nil {
		c.Close()
		return nil, "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	c.SetDeadline(time.Time{})
	real, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return c, real, nil
}

// activeConns is the ActiveConn column of ipvsadm -Ln for addr in ns.
func activeConns(t *testing.T, ns interface {
	Run(string, ...string) (string, error)
}, addr string) int {
	t.Helper()
	out, err := ns.Run("ipvsadm", "-Ln")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+->\s+` + regexp.QuoteMeta(addr) + `:\d+\s+\S+\s+\d+\s+(\d+)\s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ipvsadm -Ln has no %s:\n%s", addr, out)
	}
	n := 0
	fmt.Sscan(m[1], &n)
	return n
}
