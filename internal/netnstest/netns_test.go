package netnstest

import (
	"bytes"
	"directord/internal/labnet"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// Two namespaces on a bridge: a raw protocol-112 socket in one receives a
// multicast packet to 224.0.0.18 sent from the other, with TTL 255 intact,
// which is exactly what VRRP needs from the rig.
func TestMulticastProto112AcrossBridge(t *testing.T) {
	lan := NewLAN(t, map[string]string{"a": "10.99.0.1/24", "b": "10.99.0.2/24"})
	group := &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)}

	var rx *ipv4.RawConn
	err := lan.Hosts["b"].NS.Do(func() error {
		c, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		rx, err = ipv4.NewRawConn(c)
		if err != nil {
			return err
		}
		return rx.JoinGroup(ifi, group)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()

	payload := []byte("vrrp-rig-probe")
	send := func() error {
		return lan.Hosts["a"].NS.Do(func() error {
			c, err := net.ListenPacket("ip4:112", "0.0.0.0")
			if err != nil {
				return err
			}
			defer c.Close()
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			p := ipv4.NewPacketConn(c)
			if err := p.SetMulticastInterface(ifi); err != nil {
				return err
			}
			if err := p.SetMulticastTTL(255); err != nil {
				return err
			}
			_, err = p.WriteTo(payload, nil, group)
			return err
		})
	}
	// A probe every 100 ms until one arrives: a veth just plugged into
	// the bridge may drop the first packets while its carrier comes up
	// (CI lost a single probe once).
	deadline := time.Now().Add(3 * time.Second)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		if err := send(); err != nil {
			t.Fatal(err)
		}
		_ = rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			h, p, _, err := rx.ReadFrom(buf)
			if err != nil {
				break
			}
			if !bytes.Equal(p, payload) {
				continue
			}
			if !h.Src.Equal(net.IPv4(10, 99, 0, 1)) || h.TTL != 255 || h.Protocol != 112 {
				t.Fatalf("header %v: want src 10.99.0.1, TTL 255, protocol 112", h)
			}
			return
		}
	}
	t.Fatal("no multicast packet arrived in 3 s")
}

func TestCloseRemovesNamespacesAndProcesses(t *testing.T) {
	n := NewT(t)
	ns, err := n.AddNS("x")
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(t.Context(), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	// `ip netns exec` enters the namespace after it has started: wait
	// for that, or Close finds nobody there to kill (a flake under load).
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(labnet.PIDsIn(netnsDir+"/"+ns.Name), cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("the process never entered the namespace")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("process in the namespace survived Close")
	}
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), n.Prefix()) {
			t.Errorf("namespace %s survived Close", e.Name())
		}
	}
}

// The names labnet gives its namespaces, and where ip-netns keeps them.
const (
	netnsDir   = "/run/netns"
	namePrefix = "dd-"
)

func TestSweepStaleRemovesDeadOwners(t *testing.T) {
	NewT(t) // for the prerequisites only
	// A pid that cannot exist (above the kernel's pid_max limit).
	name := namePrefix + "4194305-t000000-stale"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := labnet.SweepStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); !os.IsNotExist(err) {
		_ = exec.Command("ip", "netns", "delete", name).Run()
		t.Fatalf("stale namespace %s was not swept (%v)", name, err)
	}
}
