package vrrp

import "net/netip"

// addrCache answers "is this address on that device" for one pass over
// many VIPs with one dump per device and family, not one per VIP: 2,500
// VIPs on one interface were 2,500 dumps of 2,500 addresses after each
// lost address event, and a reload waited for them.
type addrCache struct {
	m    AddrManager
	sets map[devFamily]map[netip.Addr]bool
}

type devFamily struct {
	dev string
	fam Family
}

func (r *Router) addrCache() *addrCache {
	return &addrCache{m: r.sys.Addrs, sets: map[devFamily]map[netip.Addr]bool{}}
}

// has reports whether a was on dev when the pass first asked about dev.
func (c *addrCache) has(dev string, a netip.Addr) (bool, error) {
	k := devFamily{dev, FamilyOf(a)}
	set, ok := c.sets[k]
	if !ok {
		addrs, err := c.m.List(dev, k.fam)
		if err != nil {
			return false, err
		}
		set = make(map[netip.Addr]bool, len(addrs))
		for _, x := range addrs {
			set[x] = true
		}
		c.sets[k] = set
	}
	return set[a], nil
}
