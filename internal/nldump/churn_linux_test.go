package nldump

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// On the kernel: addresses dumped while another thread adds and removes
// one every millisecond. The plain dump is interrupted now and then (what made a director
// refuse to start in CI); through Retry no read fails.
func TestAddrListUnderChurn(t *testing.T) {
	testenv.RequireRoot(t)
	n := netnstest.NewT(t)
	ns, err := n.AddNS("churn")
	if err != nil {
		t.Fatal(err)
	}
	var link netlink.Link
	err = ns.Do(func() error {
		var err error
		if link, err = netlink.LinkByName("lo"); err != nil {
			return err
		}
		// Enough addresses for a dump of several messages.
		for i := range 1000 {
			a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 50, byte(i/250), byte(1+i%250)), Mask: net.CIDRMask(32, 32)}}
			if err := netlink.AddrAdd(link, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- ns.Do(func() error {
			a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 51, 0, 1), Mask: net.CIDRMask(32, 32)}}
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				if err := netlink.AddrAdd(link, a); err != nil {
					return err
				}
				if err := netlink.AddrDel(link, a); err != nil {
					return err
				}
				// About what a busy host does: keepalived, DHCP and
				// an operator together change addresses far less.
				time.Sleep(time.Millisecond)
			}
		})
	}()
	var plain, retried int
	err = ns.Do(func() error {
		for range 300 {
			if _, err := netlink.AddrList(link, netlink.FAMILY_V4); errors.Is(err, netlink.ErrDumpInterrupted) {
				plain++
			} else if err != nil {
				return err
			}
			if _, err := Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_V4) }); err != nil {
				retried++
			}
		}
		return nil
	})
	close(stop)
	if cerr := <-done; cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("of 300 dumps under churn, %d plain reads were interrupted; %d failed through Retry", plain, retried)
	if plain == 0 {
		t.Fatal("no plain dump was interrupted: the churn did not exercise Retry")
	}
	if retried > 0 {
		t.Errorf("%d reads through Retry failed", retried)
	}
}
