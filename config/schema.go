package config

import "github.com/hashicorp/hcl/v2"

// The raw* types mirror the HCL syntax one to one. Every attribute is
// optional at this level (a nil pointer means "not written") so that a
// missing required attribute and a wrong value are reported by our own
// validation, with one diagnostic each and a precise range. Each block keeps
// its body so that validation can point at the exact attribute value.

type rawFile struct {
	Director   *rawDirector    `hcl:"director,block"`
	Instances  []*rawInstance  `hcl:"vrrp_instance,block"`
	SyncGroups []*rawSyncGroup `hcl:"vrrp_sync_group,block"`
	// Decoded by hand (decodeFile), not by gohcl.
	VirtualServers []*rawVirtualServer
	IPVS           *rawIPVS `hcl:"ipvs,block"`
	BGP            *rawBGP  `hcl:"bgp,block"`
	// Locals were evaluated before decoding (evalContext).
	Locals []*rawLocals `hcl:"locals,block"`
}

type rawLocals struct {
	Body hcl.Body `hcl:",remain"`
}

type rawDirector struct {
	RouterID      *string   `hcl:"router_id,optional"`
	StatusSocket  *string   `hcl:"status_socket,optional"`
	MetricsListen *string   `hcl:"metrics_listen,optional"`
	LogFormat     *string   `hcl:"log_format,optional"`
	LogLevel      *string   `hcl:"log_level,optional"`
	ScriptUser    *string   `hcl:"script_user,optional"`
	MaintDir      *string   `hcl:"maintenance_dir,optional"`
	VIPMarks      *string   `hcl:"through_vip_marks,optional"`
	Body          hcl.Body  `hcl:",body"`
	DefRange      hcl.Range `hcl:",def_range"`
}

type rawInstance struct {
	Name            string               `hcl:"name,label"`
	Interface       *string              `hcl:"interface,optional"`
	VRID            *int                 `hcl:"virtual_router_id,optional"`
	Priority        *int                 `hcl:"priority,optional"`
	Version         *int                 `hcl:"version,optional"`
	AdvertInterval  *string              `hcl:"advert_interval,optional"`
	Preempt         *bool                `hcl:"preempt,optional"`
	PreemptDelay    *string              `hcl:"preempt_delay,optional"`
	VirtualIPs      *[]string            `hcl:"virtual_ips,optional"`
	UnicastSrc      *string              `hcl:"unicast_src,optional"`
	UnicastPeers    *[]string            `hcl:"unicast_peers,optional"`
	Auth            *rawAuth             `hcl:"authentication,block"`
	TrackInterfaces []*rawTrackInterface `hcl:"track_interface,block"`
	TrackScripts    []*rawTrackScript    `hcl:"track_script,block"`
	TrackFiles      []*rawTrackFile      `hcl:"track_file,block"`
	GARP            *rawGARP             `hcl:"garp,block"`
	Notify          *rawNotify           `hcl:"notify,block"`
	Announce        *string              `hcl:"announce,optional"`
	Communities     *[]string            `hcl:"communities,optional"`
	MED             *int                 `hcl:"med,optional"`
	Body            hcl.Body             `hcl:",body"`
	DefRange        hcl.Range            `hcl:",def_range"`
	NameRange       hcl.Range            `hcl:"name,label_range"`
}

type rawAuth struct {
	Type     *string   `hcl:"type,optional"`
	Password *string   `hcl:"password,optional"`
	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

type rawTrackInterface struct {
	Name      string    `hcl:"name,label"`
	Weight    *int      `hcl:"weight,optional"`
	Body      hcl.Body  `hcl:",body"`
	DefRange  hcl.Range `hcl:",def_range"`
	NameRange hcl.Range `hcl:"name,label_range"`
}

type rawTrackScript struct {
	Name      string    `hcl:"name,label"`
	Command   *[]string `hcl:"command,optional"`
	Interval  *string   `hcl:"interval,optional"`
	Timeout   *string   `hcl:"timeout,optional"`
	Rise      *int      `hcl:"rise,optional"`
	Fall      *int      `hcl:"fall,optional"`
	Weight    *int      `hcl:"weight,optional"`
	Body      hcl.Body  `hcl:",body"`
	DefRange  hcl.Range `hcl:",def_range"`
	NameRange hcl.Range `hcl:"name,label_range"`
}

type rawTrackFile struct {
	Path      string    `hcl:"path,label"`
	Weight    *int      `hcl:"weight,optional"`
	Body      hcl.Body  `hcl:",body"`
	DefRange  hcl.Range `hcl:",def_range"`
	PathRange hcl.Range `hcl:"path,label_range"`
}

type rawGARP struct {
	Delay         *string   `hcl:"delay,optional"`
	Repeat        *int      `hcl:"repeat,optional"`
	Interval      *string   `hcl:"interval,optional"`
	Refresh       *string   `hcl:"refresh,optional"`
	RefreshRepeat *int      `hcl:"refresh_repeat,optional"`
	Body          hcl.Body  `hcl:",body"`
	DefRange      hcl.Range `hcl:",def_range"`
}

type rawNotify struct {
	Master   *[]string `hcl:"master,optional"`
	Backup   *[]string `hcl:"backup,optional"`
	Fault    *[]string `hcl:"fault,optional"`
	Stop     *[]string `hcl:"stop,optional"`
	Timeout  *string   `hcl:"timeout,optional"`
	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

type rawSyncGroup struct {
	Name      string    `hcl:"name,label"`
	Instances *[]string `hcl:"instances,optional"`
	Body      hcl.Body  `hcl:",body"`
	DefRange  hcl.Range `hcl:",def_range"`
	NameRange hcl.Range `hcl:"name,label_range"`
}

type rawVirtualServer struct {
	Name               string    `hcl:"name,label"`
	Address            *string   `hcl:"address,optional"`
	Port               *int      `hcl:"port,optional"`
	Protocol           *string   `hcl:"protocol,optional"`
	FWMark             *int      `hcl:"fwmark,optional"`
	Family             *string   `hcl:"family,optional"`
	Scheduler          *string   `hcl:"scheduler,optional"`
	SchedulerFlags     *[]string `hcl:"scheduler_flags,optional"`
	Forwarding         *string   `hcl:"forwarding,optional"`
	PersistenceTimeout *string   `hcl:"persistence_timeout,optional"`
	PersistenceNetmask *string   `hcl:"persistence_netmask,optional"`
	OnFailure          *string   `hcl:"on_failure,optional"`
	Quorum             *int      `hcl:"quorum,optional"`
	QuorumUp           *[]string `hcl:"quorum_up,optional"`
	QuorumDown         *[]string `hcl:"quorum_down,optional"`
	Hysteresis         *int      `hcl:"hysteresis,optional"`
	SorryServer        *string   `hcl:"sorry_server,optional"`
	SorryInhibit       *bool     `hcl:"sorry_server_inhibit,optional"`
	SorryForwarding    *string   `hcl:"sorry_server_forwarding,optional"`
	SorryKeepReals     *bool     `hcl:"sorry_server_keep_reals,optional"`
	Announce           *string   `hcl:"announce,optional"`
	Communities        *[]string `hcl:"communities,optional"`
	MED                *int      `hcl:"med,optional"`
	// attrs are the block's attributes, kept by decodeFile to locate
	// them (the reals' are not kept: thousands of maps, rarely used).
	attrs        hcl.Attributes
	HealthChecks []*rawHealthCheck `hcl:"health_check,block"`
	RealServers  []*rawRealServer  `hcl:"real_server,block"`
	Body         hcl.Body          `hcl:",body"`
	DefRange     hcl.Range         `hcl:",def_range"`
	NameRange    hcl.Range         `hcl:"name,label_range"`
}

type rawRealServer struct {
	Address        string            `hcl:"address,label"`
	Port           *int              `hcl:"port,optional"`
	Weight         *int              `hcl:"weight,optional"`
	Forwarding     *string           `hcl:"forwarding,optional"`
	UpperThreshold *int              `hcl:"upper_threshold,optional"`
	LowerThreshold *int              `hcl:"lower_threshold,optional"`
	HealthChecks   []*rawHealthCheck `hcl:"health_check,block"`
	NotifyUp       *[]string         `hcl:"notify_up,optional"`
	NotifyDown     *[]string         `hcl:"notify_down,optional"`
	Body           hcl.Body          `hcl:",body"`
	DefRange       hcl.Range         `hcl:",def_range"`
	AddressRange   hcl.Range         `hcl:"address,label_range"`
}

type rawHealthCheck struct {
	Type               string         `hcl:"type,label"`
	Interval           *string        `hcl:"interval,optional"`
	Timeout            *string        `hcl:"timeout,optional"`
	Rise               *int           `hcl:"rise,optional"`
	Fall               *int           `hcl:"fall,optional"`
	RetryDelay         *string        `hcl:"retry_delay,optional"`
	Initial            *string        `hcl:"initial,optional"`
	ConnectAddress     *string        `hcl:"connect_address,optional"`
	ConnectPort        *int           `hcl:"connect_port,optional"`
	BindAddress        *string        `hcl:"bind_address,optional"`
	Path               *string        `hcl:"path,optional"`
	Method             *string        `hcl:"method,optional"`
	Host               *string        `hcl:"host,optional"`
	Status             *[]string      `hcl:"status,optional"`
	BodyRegex          *string        `hcl:"body_regex,optional"`
	BodyDigest         *string        `hcl:"body_digest,optional"`
	TLSServerName      *string        `hcl:"tls_server_name,optional"`
	CAFile             *string        `hcl:"ca_file,optional"`
	InsecureSkipVerify *bool          `hcl:"insecure_skip_verify,optional"`
	Command            *[]string      `hcl:"command,optional"`
	DynamicWeight      *bool          `hcl:"dynamic_weight,optional"`
	Payload            *string        `hcl:"payload,optional"`
	RequireReply       *bool          `hcl:"require_reply,optional"`
	ReplyHex           *string        `hcl:"reply_hex,optional"`
	ReplyRegex         *string        `hcl:"reply_regex,optional"`
	HeloName           *string        `hcl:"helo_name,optional"`
	QueryName          *string        `hcl:"query_name,optional"`
	QueryType          *string        `hcl:"query_type,optional"`
	Rcode              *string        `hcl:"rcode,optional"`
	Answer             *string        `hcl:"answer,optional"`
	Count              *int           `hcl:"count,optional"`
	ThroughVIP         *bool          `hcl:"through_vip,optional"`
	attrs              hcl.Attributes // as rawVirtualServer's
	Body               hcl.Body       `hcl:",body"`
	DefRange           hcl.Range      `hcl:",def_range"`
	TypeRange          hcl.Range      `hcl:"type,label_range"`
}

type rawIPVS struct {
	TCPTimeout    *string         `hcl:"tcp_timeout,optional"`
	TCPFinTimeout *string         `hcl:"tcpfin_timeout,optional"`
	UDPTimeout    *string         `hcl:"udp_timeout,optional"`
	DriftCheck    *string         `hcl:"drift_check,optional"`
	ClearOnStop   *bool           `hcl:"clear_on_stop,optional"`
	SyncDaemon    *rawSyncDaemon  `hcl:"sync_daemon,block"`
	Sysctl        *rawIPVSSysctls `hcl:"sysctl,block"`
	Body          hcl.Body        `hcl:",body"`
	DefRange      hcl.Range       `hcl:",def_range"`
}

type rawSyncDaemon struct {
	Interface    *string   `hcl:"interface,optional"`
	VRRPInstance *string   `hcl:"vrrp_instance,optional"`
	SyncID       *int      `hcl:"sync_id,optional"`
	MaxLen       *int      `hcl:"max_len,optional"`
	Port         *int      `hcl:"port,optional"`
	TTL          *int      `hcl:"ttl,optional"`
	Group        *string   `hcl:"group,optional"`
	Body         hcl.Body  `hcl:",body"`
	DefRange     hcl.Range `hcl:",def_range"`
}

type rawIPVSSysctls struct {
	SloppyTCP               *bool     `hcl:"sloppy_tcp,optional"`
	SloppySCTP              *bool     `hcl:"sloppy_sctp,optional"`
	ExpireNodestConn        *bool     `hcl:"expire_nodest_conn,optional"`
	ExpireQuiescentTemplate *bool     `hcl:"expire_quiescent_template,optional"`
	Conntrack               *bool     `hcl:"conntrack,optional"`
	SyncThreshold           *[]int    `hcl:"sync_threshold,optional"`
	SyncRefreshPeriod       *string   `hcl:"sync_refresh_period,optional"`
	Body                    hcl.Body  `hcl:",body"`
	DefRange                hcl.Range `hcl:",def_range"`
}
