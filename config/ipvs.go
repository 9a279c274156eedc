package config

import (
	"net/netip"
	"time"
)

// Defaults of the sync daemon, the kernel's own (ip_vs_sync.c), which
// keepalived and ipvsadm also use; the group is 224.0.0.81.
const (
	DefaultSyncPort = 8848
	DefaultSyncTTL  = 1
)

func defaultSyncGroup() netip.Addr { return netip.AddrFrom4([4]byte{224, 0, 0, 81}) }

func (r *resolver) ipvs(ri *rawIPVS, instances []VRRPInstance) IPVS {
	v := IPVS{DriftCheck: Duration(DefaultDriftCheck)}
	if ri == nil {
		return v
	}
	b := r.block(ri.Body, ri.DefRange)
	v.TCPTimeout = Duration(b.seconds("tcp_timeout", ri.TCPTimeout, 0))
	v.TCPFinTimeout = Duration(b.seconds("tcpfin_timeout", ri.TCPFinTimeout, 0))
	v.UDPTimeout = Duration(b.seconds("udp_timeout", ri.UDPTimeout, 0))
	v.DriftCheck = Duration(b.duration("drift_check", ri.DriftCheck, DefaultDriftCheck))
	if v.DriftCheck.D() < time.Second {
		b.errorf("drift_check", "drift_check must be at least 1s")
	}
	v.ClearOnStop = deref(ri.ClearOnStop, false)
	if ri.SyncDaemon != nil {
		v.SyncDaemon = r.syncDaemon(ri.SyncDaemon, instances)
	}
	if ri.Sysctl != nil {
		v.Sysctl = r.ipvsSysctls(ri.Sysctl)
	}
	return v
}

func (r *resolver) syncDaemon(rs *rawSyncDaemon, instances []VRRPInstance) *SyncDaemon {
	b := r.block(rs.Body, rs.DefRange)
	d := &SyncDaemon{Port: DefaultSyncPort, TTL: DefaultSyncTTL, Group: defaultSyncGroup()}
	if b.required("interface", rs.Interface != nil) {
		d.Interface = b.ifname("interface", *rs.Interface)
	}
	var followed *VRRPInstance
	if rs.VRRPInstance != nil {
		d.VRRPInstance = *rs.VRRPInstance
		for i := range instances {
			if instances[i].Name == d.VRRPInstance {
				followed = &instances[i]
			}
		}
		if followed == nil {
			b.errorf("vrrp_instance", "vrrp_instance %q is not declared in this file", d.VRRPInstance)
		}
	}
	// keepalived's default: the followed instance's VRID, else 0.
	def := 0
	if followed != nil {
		def = int(followed.VRID)
	}
	d.SyncID = uint8(b.intIn("sync_id", rs.SyncID, def, 0, 255))
	// The kernel clamps a backup's length to 1024 and anything to what a
	// datagram holds; inside those bounds what it runs is what we asked,
	// so a restart finds it unchanged.
	d.MaxLen = uint16(b.intIn("max_len", rs.MaxLen, 0, 1024, 65487))
	d.Port = uint16(b.intIn("port", rs.Port, DefaultSyncPort, 1, 65535))
	d.TTL = uint8(b.intIn("ttl", rs.TTL, DefaultSyncTTL, 1, 255))
	if rs.Group != nil {
		if a, ok := b.addr("group", *rs.Group, b.where("group")); ok {
			if a.IsMulticast() {
				d.Group = a
			} else {
				b.errorf("group", "group must be a multicast address (224.0.0.0/4 or ff00::/8), not %s", a)
			}
		}
	}
	return d
}

func (r *resolver) ipvsSysctls(rs *rawIPVSSysctls) IPVSSysctls {
	b := r.block(rs.Body, rs.DefRange)
	s := IPVSSysctls{
		SloppyTCP:               rs.SloppyTCP,
		SloppySCTP:              rs.SloppySCTP,
		ExpireNodestConn:        rs.ExpireNodestConn,
		ExpireQuiescentTemplate: rs.ExpireQuiescentTemplate,
		Conntrack:               rs.Conntrack,
	}
	if rs.SyncThreshold != nil {
		t := *rs.SyncThreshold
		// The kernel's rule (proc_do_sync_threshold): both at least 0,
		// and the threshold below a non-zero period.
		switch {
		case len(t) != 2:
			b.errorf("sync_threshold", "sync_threshold is [threshold, period] in packets, such as [3, 50]")
		case t[0] < 0 || t[1] < 0 || (t[1] != 0 && t[0] >= t[1]):
			b.errorf("sync_threshold", "sync_threshold [%d, %d]: both must be at least 0 and the threshold less than the period (or the period 0)", t[0], t[1])
		default:
			s.SyncThreshold = []int{t[0], t[1]}
		}
	}
	if rs.SyncRefreshPeriod != nil {
		d := Duration(b.seconds("sync_refresh_period", rs.SyncRefreshPeriod, 0))
		s.SyncRefreshPeriod = &d
	}
	return s
}
