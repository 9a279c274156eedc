package lvs

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/mdlayher/netlink"
)

// SyncState is the role of one of the kernel's connection-sync daemons
// (IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP): a master sends the
// connections this director forwards, a backup receives its peer's and
// adds them to the local connection table.
type SyncState uint32

// The two sync daemon roles. A namespace runs at most one of each, and
// may run both at once.
const (
	SyncMaster SyncState = 1
	SyncBackup SyncState = 2
)

func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// MarshalText names the role in the status document.
func (s SyncState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (s *SyncState) UnmarshalText(b []byte) error {
	switch string(b) {
	case "master":
		*s = SyncMaster
	case "backup":
		*s = SyncBackup
	default:
		return fmt.Errorf("unknown sync daemon state %q", b)
	}
	return nil
}

// The kernel's defaults for what a NEW_DAEMON request leaves out
// (net/netfilter/ipvs/ip_vs_sync.c).
const (
	DefaultSyncPort = 8848
	DefaultSyncTTL  = 1
)

// DefaultSyncGroup is the multicast group the kernel uses when none is
// given, 224.0.0.81.
func DefaultSyncGroup() netip.Addr { return netip.AddrFrom4([4]byte{224, 0, 0, 81}) }

// SyncDaemon is one running (or wanted) sync daemon, as `ipvsadm
// --start-daemon` sets it up and `ipvsadm -L --daemon` lists it.
type SyncDaemon struct {
	State     SyncState `json:"state"`
	Interface string    `json:"interface"` // multicast interface
	SyncID    uint8     `json:"sync_id"`   // only messages with this id are accepted
	// MaxLen is the UDP payload size of a sync message; 0 lets the kernel
	// take it from the interface's MTU.
	MaxLen uint16     `json:"max_len,omitempty"`
	Group  netip.Addr `json:"group,omitzero"` // multicast group; DefaultSyncGroup when zero
	Port   uint16     `json:"port,omitempty"` // UDP port (base); DefaultSyncPort when zero
	TTL    uint8      `json:"ttl,omitempty"`  // multicast TTL; DefaultSyncTTL when zero
}

func (d SyncDaemon) String() string {
	d = d.WithDefaults()
	s := fmt.Sprintf("%s on %s, syncid %d, group %s port %d ttl %d", d.State, d.Interface, d.SyncID, d.Group, d.Port, d.TTL)
	if d.MaxLen != 0 {
		s += fmt.Sprintf(", maxlen %d", d.MaxLen)
	}
	return s
}

// WithDefaults fills in the kernel's defaults for the group, port and
// TTL, so a wanted daemon compares equal to the one the kernel reports
// running.
func (d SyncDaemon) WithDefaults() SyncDaemon {
	if !d.Group.IsValid() {
		d.Group = DefaultSyncGroup()
	}
	if d.Port == 0 {
		d.Port = DefaultSyncPort
	}
	if d.TTL == 0 {
		d.TTL = DefaultSyncTTL
	}
	return d
}

// Satisfies reports whether the running daemon have is the one d asks
// for. A MaxLen of 0 accepts whatever the kernel chose from the MTU.
func (d SyncDaemon) Satisfies(have SyncDaemon) bool {
	w, h := d.WithDefaults(), have.WithDefaults()
	if w.MaxLen == 0 {
		w.MaxLen = h.MaxLen
	}
	return w == h
}

// SyncOpKind is a sync daemon change.
type SyncOpKind int

// Stops come before starts, so a daemon whose settings change is
// restarted with the new ones.
const (
	StopDaemon SyncOpKind = iota
	StartDaemon
)

func (k SyncOpKind) String() string { return [...]string{"stop-daemon", "start-daemon"}[k] }

// SyncOp is one change to the running sync daemons.
type SyncOp struct {
	Kind   SyncOpKind
	Daemon SyncDaemon // for a stop only State counts
}

func (o SyncOp) String() string {
	if o.Kind == StopDaemon {
		return fmt.Sprintf("%s %s", o.Kind, o.Daemon.State)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Daemon)
}

// PlanSync is the changes that make the running daemons (have) the wanted
// ones, for the roles in owned only: a daemon of a role the configuration
// has never declared is someone else's and is left alone. A daemon that
// runs with other settings is stopped and started again; the kernel has
// no way to change one in place.
func PlanSync(want, have []SyncDaemon, owned map[SyncState]bool) []SyncOp {
	var stops, starts []SyncOp
	for _, st := range []SyncState{SyncMaster, SyncBackup} {
		if !owned[st] {
			continue
		}
		w, wok := findDaemon(want, st)
		h, hok := findDaemon(have, st)
		switch {
		case wok && hok && w.Satisfies(h):
		case wok && hok:
			stops = append(stops, SyncOp{Kind: StopDaemon, Daemon: h})
			starts = append(starts, SyncOp{Kind: StartDaemon, Daemon: w})
		case wok:
			starts = append(starts, SyncOp{Kind: StartDaemon, Daemon: w})
		case hok:
			stops = append(stops, SyncOp{Kind: StopDaemon, Daemon: h})
		}
	}
	return append(stops, starts...)
}

func findDaemon(ds []SyncDaemon, st SyncState) (SyncDaemon, bool) {
	i := slices.IndexFunc(ds, func(d SyncDaemon) bool { return d.State == st })
	if i < 0 {
		return SyncDaemon{}, false
	}
	return ds[i], true
}

// The sync daemon part of the IPVS generic netlink interface
// (include/uapi/linux/ip_vs.h).
const (
	cmdNewDaemon = 9
	cmdDelDaemon = 10
	cmdGetDaemon = 11

	cmdAttrDaemon = 3

	daemonAttrState       = 1 // u32
	daemonAttrMcastIfn    = 2 // NUL-terminated string, at most 15 bytes
	daemonAttrSyncID      = 3 // u32
	daemonAttrSyncMaxLen  = 4 // u16
	daemonAttrMcastGroup  = 5 // IPv4 address, network order
	daemonAttrMcastGroup6 = 6 // IPv6 address
	daemonAttrMcastPort   = 7 // u16, host order
	daemonAttrMcastTTL    = 8 // u8

	ifNameMax = 15 // IP_VS_IFNAME_MAXLEN less the NUL
)

// ErrBadDaemon wraps a sync daemon the kernel would refuse.
var ErrBadDaemon = errors.New("invalid sync daemon")

// encodeDaemonAttrs is the nested IPVS_CMD_ATTR_DAEMON of a start (all of
// d) or a stop (the state only; the kernel ignores the rest).
func encodeDaemonAttrs(d SyncDaemon, stop bool) ([]byte, error) {
	if d.State != SyncMaster && d.State != SyncBackup {
		return nil, fmt.Errorf("%w: state %d", ErrBadDaemon, uint32(d.State))
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(daemonAttrState, uint32(d.State))
	if stop {
		return ae.Encode()
	}
	if d.Interface == "" || len(d.Interface) > ifNameMax {
		return nil, fmt.Errorf("%w: interface name %q", ErrBadDaemon, d.Interface)
	}
	ae.String(daemonAttrMcastIfn, d.Interface)
	ae.Uint32(daemonAttrSyncID, uint32(d.SyncID))
	if d.MaxLen != 0 {
		ae.Uint16(daemonAttrSyncMaxLen, d.MaxLen)
	}
	switch {
	case !d.Group.IsValid():
	case d.Group.Is4() && d.Group.IsMulticast():
		ae.Bytes(daemonAttrMcastGroup, d.Group.AsSlice())
	case d.Group.Is6() && d.Group.IsMulticast():
		ae.Bytes(daemonAttrMcastGroup6, d.Group.AsSlice())
	default:
		return nil, fmt.Errorf("%w: group %s is not a multicast address", ErrBadDaemon, d.Group)
	}
	if d.Port != 0 {
		ae.Uint16(daemonAttrMcastPort, d.Port)
	}
	if d.TTL != 0 {
		ae.Uint8(daemonAttrMcastTTL, d.TTL)
	}
	return ae.Encode()
}

// encodeDaemonCmd is the generic netlink payload (header and attributes)
// of IPVS_CMD_NEW_DAEMON for a start, IPVS_CMD_DEL_DAEMON for a stop.
func encodeDaemonCmd(op SyncOp) ([]byte, error) {
	nested, err := encodeDaemonAttrs(op.Daemon, op.Kind == StopDaemon)
	if err != nil {
		return nil, err
	}
	cmd := uint8(cmdNewDaemon)
	if op.Kind == StopDaemon {
		cmd = cmdDelDaemon
	}
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(cmdAttrDaemon, nested)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return append([]byte{cmd, ipvsGenlVersion, 0, 0}, attrs...), nil
}

// decodeDaemon reads one IPVS_CMD_NEW_DAEMON message of a GET_DAEMON
// dump: the attributes after the generic netlink header.
func decodeDaemon(attrs []byte) (SyncDaemon, error) {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return SyncDaemon{}, err
	}
	var d SyncDaemon
	found := false
	for ad.Next() {
		if ad.Type() != cmdAttrDaemon {
			continue
		}
		found = true
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				decodeDaemonAttr(nad, &d)
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return SyncDaemon{}, fmt.Errorf("sync daemon attributes: %w", err)
	}
	if !found || (d.State != SyncMaster && d.State != SyncBackup) {
		return SyncDaemon{}, fmt.Errorf("%w: no state in the kernel's answer", ErrBadDaemon)
	}
	return d, nil
}

func decodeDaemonAttr(nad *netlink.AttributeDecoder, d *SyncDaemon) {
	switch nad.Type() {
	case daemonAttrState:
		d.State = SyncState(nad.Uint32())
	case daemonAttrMcastIfn:
		d.Interface = nad.String()
	case daemonAttrSyncID:
		d.SyncID = uint8(nad.Uint32())
	case daemonAttrSyncMaxLen:
		d.MaxLen = nad.Uint16()
	case daemonAttrMcastGroup, daemonAttrMcastGroup6:
		if a, ok := netip.AddrFromSlice(nad.Bytes()); ok {
			d.Group = a
		}
	case daemonAttrMcastPort:
		d.Port = nad.Uint16()
	case daemonAttrMcastTTL:
		d.TTL = nad.Uint8()
	}
}
