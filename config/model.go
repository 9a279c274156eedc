package config

import (
	"io"

	"fmt"
	"github.com/hashicorp/hcl/v2"
	"net/netip"
	"strconv"
	"time"
)

// Config is a validated configuration with every default filled in. It is
// immutable once returned by Load or Parse: subsystems read it, never write it.
type Config struct {
	// Path is the file the configuration was read from.
	Path string `json:"path"`
	// SHA256 is the hex digest of the file's bytes, used to tell whether a
	// reload changed anything.
	SHA256 string `json:"sha256"`

	Director       Director        `json:"director"`
	Instances      []VRRPInstance  `json:"vrrp_instances"`
	SyncGroups     []SyncGroup     `json:"vrrp_sync_groups"`
	VirtualServers []VirtualServer `json:"virtual_servers"`
	IPVS           IPVS            `json:"ipvs"`
	// BGP is nil without a bgp block.
	BGP *BGP `json:"bgp,omitempty"`

	// Warnings are diagnostics that did not make the file invalid.
	Warnings hcl.Diagnostics `json:"-"`
	files    map[string]*hcl.File
}

// WriteWarnings prints the warnings the way errors are printed.
func (c *Config) WriteWarnings(w io.Writer, color bool) error {
	return WriteDiagnostics(w, c.files, c.Warnings, color)
}

// Director holds settings of the daemon itself.
type Director struct {
	RouterID      string `json:"router_id"`
	StatusSocket  string `json:"status_socket"`
	MetricsListen string `json:"metrics_listen"`
	LogFormat     string `json:"log_format"`
	LogLevel      string `json:"log_level"`
	// ScriptUser runs notify hooks, track scripts and exec checks as
	// this user instead of root (keepalived's script_user).
	ScriptUser string `json:"script_user,omitempty"`
	// MaintenanceDir drains a real server while a file named after it
	// exists there (ldirectord's maintenancedir).
	MaintenanceDir string `json:"maintenance_dir,omitempty"`
	// ThroughVIPMarks is the socket marks (value/mask) checks through
	// the VIP are steered by: one per real server that has one.
	ThroughVIPMarks MarkRange `json:"through_vip_marks"`
}

// VRRPInstance is one virtual router on one interface.
type VRRPInstance struct {
	Name           string   `json:"name"`
	Interface      string   `json:"interface"`
	VRID           uint8    `json:"virtual_router_id"`
	Priority       uint8    `json:"priority"`
	Version        int      `json:"version"`
	AdvertInterval Duration `json:"advert_interval"`
	Preempt        bool     `json:"preempt"`
	PreemptDelay   Duration `json:"preempt_delay"`
	VirtualIPs     []VIP    `json:"virtual_ips"`
	// Announcement: the instance's VIPs are announced as host routes
	// while it is MASTER here; Announced lists which (config fills it):
	// not a link-local one, which means nothing beyond the link, and not
	// one a virtual server announces, which follows that service's quorum.
	Announcement
	Announced       []netip.Addr     `json:"announced,omitempty"`
	UnicastSrc      netip.Addr       `json:"unicast_src,omitzero"`
	UnicastPeers    []netip.Addr     `json:"unicast_peers"`
	Auth            *Auth            `json:"authentication,omitempty"`
	TrackInterfaces []TrackInterface `json:"track_interfaces"`
	TrackScripts    []TrackScript    `json:"track_scripts"`
	TrackFiles      []TrackFile      `json:"track_files"`
	GARP            GARP             `json:"garp"`
	Notify          Notify           `json:"notify"`
}

// Owner reports whether the instance is the IP address owner (priority
// 255, RFC 9568 §1.6): its VIPs are the interface's own addresses, so they
// are never added or removed.
func (i *VRRPInstance) Owner() bool { return i.Priority == 255 }

// VIP is a virtual IP address with the device and label it goes on.
type VIP struct {
	Prefix netip.Prefix `json:"prefix"`
	// Dev is empty when the VIP goes on the instance's interface.
	Dev   string `json:"dev,omitempty"`
	Label string `json:"label,omitempty"`
}

func (v VIP) String() string {
	s := v.Prefix.String()
	if v.Dev != "" {
		s += " dev " + v.Dev
	}
	if v.Label != "" {
		s += " label " + v.Label
	}
	return s
}

// Auth is VRRPv2 simple text authentication (RFC 2338 §5.3.6.1).
type Auth struct {
	Type     string `json:"type"`
	Password string `json:"password"`
}

// TrackInterface follows a link: with weight 0 a down link puts the
// instance in Fault; otherwise the weight is added to the priority (a
// positive weight while the link is up, a negative one while it is down),
// as in keepalived.
type TrackInterface struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// TrackScript runs a command periodically; see TrackInterface for weight.
type TrackScript struct {
	Name     string   `json:"name"`
	Command  []string `json:"command"`
	Interval Duration `json:"interval"`
	Timeout  Duration `json:"timeout"`
	Rise     int      `json:"rise"`
	Fall     int      `json:"fall"`
	Weight   int      `json:"weight"`
}

// TrackFile reads an integer from a file; the integer times the weight is
// added to the priority. With weight 0 a non-zero value means Fault.
type TrackFile struct {
	Path   string `json:"path"`
	Weight int    `json:"weight"`
}

// GARP controls gratuitous ARP after becoming master: Repeat packets per VIP
// spaced by Interval at once, the same again after Delay, and RefreshRepeat
// packets every Refresh while master (0 turns refresh off).
type GARP struct {
	Delay         Duration `json:"delay"`
	Repeat        int      `json:"repeat"`
	Interval      Duration `json:"interval"`
	Refresh       Duration `json:"refresh"`
	RefreshRepeat int      `json:"refresh_repeat"`
}

// Notify holds the hooks run on state changes, each an argv.
type Notify struct {
	Master  []string `json:"master,omitempty"`
	Backup  []string `json:"backup,omitempty"`
	Fault   []string `json:"fault,omitempty"`
	Stop    []string `json:"stop,omitempty"`
	Timeout Duration `json:"timeout"`
}

// SyncGroup makes several instances change state together.
type SyncGroup struct {
	Name      string   `json:"name"`
	Instances []string `json:"instances"`
}

// Protocols, forwarding methods and failure policies accepted in a virtual
// server.
const (
	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
	ProtoSCTP = "sctp"

	ForwardDR  = "dr"
	ForwardNAT = "nat"
	ForwardTUN = "tun"

	OnFailureWeightZero = "weight_zero"
	OnFailureRemove     = "remove"

	FamilyInet  = "inet"
	FamilyInet6 = "inet6"
)

// VirtualServer is one IPVS service and its real servers.
type VirtualServer struct {
	Name string `json:"name"`
	// Address, Port and Protocol identify the service unless FWMark is set.
	Address  netip.Addr `json:"address,omitzero"`
	Port     uint16     `json:"port,omitempty"`
	Protocol string     `json:"protocol,omitempty"`
	FWMark   uint32     `json:"fwmark,omitempty"`
	// Family is "inet" or "inet6"; for address services it follows the
	// address.
	Family             string   `json:"family"`
	Scheduler          string   `json:"scheduler"`
	SchedulerFlags     []string `json:"scheduler_flags"`
	Forwarding         string   `json:"forwarding"`
	PersistenceTimeout Duration `json:"persistence_timeout"`
	// PersistenceNetmask is a prefix length; 0 means the kernel's default
	// (a host mask).
	PersistenceNetmask int    `json:"persistence_netmask,omitempty"`
	OnFailure          string `json:"on_failure"`
	Quorum             int    `json:"quorum"`
	// QuorumUp and QuorumDown run (argv, no shell) when the service
	// regains or loses quorum, as keepalived's quorum_up/quorum_down.
	QuorumUp    []string       `json:"quorum_up,omitempty"`
	QuorumDown  []string       `json:"quorum_down,omitempty"`
	Hysteresis  int            `json:"hysteresis"`
	SorryServer netip.AddrPort `json:"sorry_server,omitzero"`
	// SorryInhibit keeps the sorry server at weight 0 while quorum
	// holds (keepalived's sorry_server_inhibit).
	SorryInhibit bool `json:"sorry_server_inhibit,omitempty"`
	// SorryForwarding is the sorry server's forwarding method
	// (keepalived's sorry_server_lvs_method); the service's by default.
	SorryForwarding string `json:"sorry_server_forwarding,omitempty"`
	// SorryKeepReals leaves the reals still up beside the sorry server
	// while quorum is lost (directord before 2026-11; keepalived cannot).
	SorryKeepReals bool `json:"sorry_server_keep_reals,omitempty"`
	// HealthChecks are the default checks of its reals; HealthCheck is
	// the first of them (nil when none), kept for readers of one check.
	HealthCheck  *HealthCheck   `json:"health_check,omitempty"`
	HealthChecks []*HealthCheck `json:"health_checks,omitempty"`
	RealServers  []RealServer   `json:"real_servers"`
	// Announcement: the address is announced while the service has
	// quorum.
	Announcement
	// AnnounceInstance is the vrrp_instance holding the announced
	// address, if one does: the address is then announced only while
	// that instance is MASTER here (and VRRP, not vip_interface, holds
	// it).
	AnnounceInstance string `json:"announce_instance,omitempty"`
}

// Key identifies the service the way the kernel does.
func (vs *VirtualServer) Key() string {
	if vs.FWMark != 0 {
		return fmt.Sprintf("fwm:%d/%s", vs.FWMark, vs.Family)
	}
	return vs.Protocol + ":" + netip.AddrPortFrom(vs.Address, vs.Port).String()
}

// IsIPv6 reports the service's address family.
func (vs *VirtualServer) IsIPv6() bool { return vs.Family == FamilyInet6 }

// RealServer is one destination of a virtual server.
type RealServer struct {
	Address        netip.Addr `json:"address"`
	Port           uint16     `json:"port"`
	Weight         int        `json:"weight"`
	Forwarding     string     `json:"forwarding"`
	UpperThreshold int        `json:"upper_threshold"`
	LowerThreshold int        `json:"lower_threshold"`
	// HealthChecks are the real's own checks, or else the service's; with
	// none the real is always up, with several it is up while all are.
	// HealthCheck is the first of them (nil when none), kept for readers
	// of one check.
	HealthCheck  *HealthCheck   `json:"health_check,omitempty"`
	HealthChecks []*HealthCheck `json:"health_checks,omitempty"`
	// NotifyUp and NotifyDown run (argv, no shell) when the real's
	// check flips, as keepalived's real_server notify_up/notify_down.
	NotifyUp   []string `json:"notify_up,omitempty"`
	NotifyDown []string `json:"notify_down,omitempty"`
	// ThroughVIPMark, when not 0, is the socket mark that steers this
	// real's through_vip checks to it (one per address and forwarding
	// method, from the director's through_vip_marks).
	ThroughVIPMark uint32 `json:"through_vip_mark,omitempty"`
}

// Endpoint is the real's address and port.
func (r *RealServer) Endpoint() netip.AddrPort { return netip.AddrPortFrom(r.Address, r.Port) }

// Health check types.
const (
	CheckTCP   = "tcp"
	CheckHTTP  = "http"
	CheckHTTPS = "https"
	CheckExec  = "exec"
	CheckUDP   = "udp"
	CheckSMTP  = "smtp"
	CheckDNS   = "dns"
	CheckICMP  = "icmp"
)

// HealthCheck is a resolved health_check block.
type HealthCheck struct {
	Type       string   `json:"type"`
	Interval   Duration `json:"interval"`
	Timeout    Duration `json:"timeout"`
	Rise       int      `json:"rise"`
	Fall       int      `json:"fall"`
	RetryDelay Duration `json:"retry_delay"`
	// InitialUp is the state before the first result ("initial").
	InitialUp bool `json:"initial_up"`
	// ThroughVIP connects to the virtual server's address, steered by a
	// mark to the real (dr and tun): it proves the real answers for the
	// VIP, which probing its own address cannot.
	ThroughVIP         bool          `json:"through_vip,omitempty"`
	ConnectAddress     netip.Addr    `json:"connect_address,omitzero"`
	ConnectPort        uint16        `json:"connect_port,omitempty"`
	BindAddress        netip.Addr    `json:"bind_address,omitzero"`
	Path               string        `json:"path,omitempty"`
	Method             string        `json:"method,omitempty"`
	Host               string        `json:"host,omitempty"`
	Status             []StatusRange `json:"status,omitempty"`
	BodyRegex          string        `json:"body_regex,omitempty"`
	BodyDigest         string        `json:"body_digest,omitempty"`
	TLSServerName      string        `json:"tls_server_name,omitempty"`
	CAFile             string        `json:"ca_file,omitempty"`
	InsecureSkipVerify bool          `json:"insecure_skip_verify,omitempty"`
	Command            []string      `json:"command,omitempty"`
	// Payload is what a udp check sends (hex); RequireReply asks for an
	// answer, ReplyHex one starting with these bytes (hex), ReplyRegex
	// one whose text matches.
	Payload      string `json:"payload,omitempty"`
	RequireReply bool   `json:"require_reply,omitempty"`
	ReplyHex     string `json:"reply_hex,omitempty"`
	ReplyRegex   string `json:"reply_regex,omitempty"`
	// HeloName is what an smtp check says in HELO; empty: the director's
	// router_id.
	HeloName string `json:"helo_name,omitempty"`
	// A dns check asks QueryName of QueryType and wants Rcode and, if
	// set, an answer record whose data is Answer.
	QueryName string `json:"query_name,omitempty"`
	QueryType string `json:"query_type,omitempty"`
	Rcode     string `json:"rcode,omitempty"`
	Answer    string `json:"answer,omitempty"`
	// Count is how many echo requests an icmp check sends at most.
	Count int `json:"count,omitempty"`
	// DynamicWeight: an exec check's exit status 2–255 sets the real's
	// weight to status−2 (keepalived's misc_dynamic).
	DynamicWeight bool `json:"dynamic_weight,omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	Lo int `json:"lo"`
	Hi int `json:"hi"`
}

// Contains reports whether code is in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Lo && code <= r.Hi }

func (r StatusRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// IPVS holds kernel-wide IPVS settings and the reconciler's own.
type IPVS struct {
	// The timeouts are applied with IPVS's SetConfig; 0 keeps the
	// kernel's current value.
	TCPTimeout    Duration `json:"tcp_timeout"`
	TCPFinTimeout Duration `json:"tcpfin_timeout"`
	UDPTimeout    Duration `json:"udp_timeout"`
	// DriftCheck is how often the table is read back and repaired.
	DriftCheck Duration `json:"drift_check"`
	// ClearOnStop removes the owned services when the daemon stops.
	ClearOnStop bool `json:"clear_on_stop"`
	// SyncDaemon runs the kernel's connection synchronisation; nil: off.
	SyncDaemon *SyncDaemon `json:"sync_daemon,omitempty"`
	// Sysctl holds the net.ipv4.vs settings to apply.
	Sysctl IPVSSysctls `json:"sysctl"`
}

// SyncDaemon is the kernel's IPVS connection synchronisation (keepalived's
// lvs_sync_daemon): a master daemon multicasts the connections this
// director forwards, a backup daemon adds the peer's to the local table,
// so that established connections survive a failover.
type SyncDaemon struct {
	Interface string `json:"interface"`
	// VRRPInstance, when set, makes the daemons follow that instance as
	// keepalived does: the master daemon while it is MASTER, the backup
	// daemon otherwise. Empty: both daemons run all the time.
	VRRPInstance string     `json:"vrrp_instance,omitempty"`
	SyncID       uint8      `json:"sync_id"`
	MaxLen       uint16     `json:"max_len,omitempty"` // 0: from the MTU
	Port         uint16     `json:"port"`
	TTL          uint8      `json:"ttl"`
	Group        netip.Addr `json:"group"`
}

// IPVSSysctls are the net.ipv4.vs.* settings that decide what happens to
// connections across a failover, a drain or a failed real. A nil field is
// left as the kernel has it.
type IPVSSysctls struct {
	SloppyTCP               *bool `json:"sloppy_tcp,omitempty"`
	SloppySCTP              *bool `json:"sloppy_sctp,omitempty"`
	ExpireNodestConn        *bool `json:"expire_nodest_conn,omitempty"`
	ExpireQuiescentTemplate *bool `json:"expire_quiescent_template,omitempty"`
	Conntrack               *bool `json:"conntrack,omitempty"`
	// SyncThreshold is [threshold, period] in packets; nil: the kernel's.
	SyncThreshold []int `json:"sync_threshold,omitempty"`
	// SyncRefreshPeriod is whole seconds; nil: the kernel's.
	SyncRefreshPeriod *Duration `json:"sync_refresh_period,omitempty"`
}

// Duration is a time.Duration that reads and prints as "1.5s".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText prints the duration the way it is written in a config.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
