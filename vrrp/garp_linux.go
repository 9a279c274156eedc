package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// arpAnnouncer announces VIPs: gratuitous ARP for IPv4 (an ARP request
// from the VIP for the VIP to the broadcast address, as keepalived and
// arping -U do) through one packet socket per interface, opened on first
// use, and unsolicited neighbour advertisements for IPv6 (naSender).
type arpAnnouncer struct {
	mu      sync.Mutex
	clients map[string]*arp.Client
	na      naSender
}

func newARPAnnouncer() *arpAnnouncer {
	return &arpAnnouncer{clients: map[string]*arp.Client{}, na: naSender{conns: map[string]*naConn{}}}
}

// dropAll is a socket filter that accepts nothing: the sockets only
// send, and every ARP packet on the wire would otherwise queue up in them.
func dropAll() []bpf.RawInstruction {
	return []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}
}

func (a *arpAnnouncer) client(dev string) (*arp.Client, error) {
	if c, ok := a.clients[dev]; ok {
		return c, nil
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, err
	}
	p, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), &packet.Config{Filter: dropAll()})
	if err != nil {
		return nil, err
	}
	c, err := arp.New(ifi, p)
	if err != nil {
		p.Close()
		return nil, err
	}
	a.clients[dev] = c
	return c, nil
}

func (a *arpAnnouncer) Prepare(dev string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err := a.client(dev)
	return err
}

func (a *arpAnnouncer) Announce(dev string, addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var v4, v6 []netip.Addr
	for _, ip := range addrs {
		if FamilyOf(ip) == IPv6 {
			v6 = append(v6, ip)
		} else {
			v4 = append(v4, ip)
		}
	}
	var err4, err6 error
	if len(v4) > 0 {
		err4 = a.announce4(dev, v4)
	}
	if len(v6) > 0 {
		if err6 = a.na.announce(dev, v6); err6 != nil {
			// As for ARP below: a socket of an interface made again.
			a.na.close(dev)
			err6 = a.na.announce(dev, v6)
		}
	}
	return errors.Join(err4, err6)
}

func (a *arpAnnouncer) announce4(dev string, addrs []netip.Addr) error {
	err := a.announce(dev, addrs)
	if err != nil {
		// The socket may be bound to an interface that was deleted and
		// made again under the same name (its index changed): open a new
		// one and try once more, at once, since this is the takeover's
		// announcement.
		if c, ok := a.clients[dev]; ok {
			c.Close()
			delete(a.clients, dev)
		}
		err = a.announce(dev, addrs)
	}
	return err
}

func (a *arpAnnouncer) announce(dev string, addrs []netip.Addr) error {
	c, err := a.client(dev)
	if err != nil {
		return fmt.Errorf("gratuitous ARP on %s: %w", dev, err)
	}
	for _, ip := range addrs {
		pkt, err := arp.NewPacket(arp.OperationRequest, c.HardwareAddr(), ip, ethernet.Broadcast, ip)
		if err == nil {
			err = c.WriteTo(pkt, ethernet.Broadcast)
		}
		if err != nil {
			return fmt.Errorf("gratuitous ARP for %s on %s: %w", ip, dev, err)
		}
	}
	return nil
}

func (a *arpAnnouncer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for dev, c := range a.clients {
		c.Close()
		delete(a.clients, dev)
	}
	a.na.closeAll()
	return nil
}
