package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"directord/bgp"
	"directord/config"
	"directord/internal/events"
	"directord/internal/privdir"
	"directord/lvs"
)

// bgpMode is the BGP side of a running director. Two locks: mu guards
// the small state the reconciler, status and reload touch (never held
// across a call into GoBGP, so a slow speaker stalls no IPVS write);
// annMu serialises the announcer and the speaker's writes, on the BGP
// loop's goroutine, a reload's and the stop's.
type bgpMode struct {
	mu        sync.Mutex
	speaker   bgp.Session
	vips      *bgp.VIPs
	quorum    map[string]bool // the last reconciler pass's, by service
	master    map[string]bool // VRRP instances in MASTER, from the VRRP loop
	gated     []netip.Prefix  // the plan's VRRP-held prefixes (bgpPlan.gated)
	announced []string        // what the announcer last had out
	drain     time.Duration
	lastErr   string
	stopping  bool
	kick      chan struct{}

	annMu sync.Mutex
	ann   *bgp.Announcer
	// checked are the services whose checks have all had a result: it
	// stays true until a reload (which may add reals), so the loop asks
	// the monitor about a service only until then.
	checked map[string]bool
}

// bgpPlan is the bgp block in the bgp package's terms.
type bgpPlan struct {
	global   bgp.Global
	peers    []bgp.Peer
	services []bgp.Service
	iface    string
	drain    time.Duration
}

func bgpTranslate(cfg *config.Config) *bgpPlan {
	g := cfg.BGP
	if g == nil {
		return nil
	}
	p := &bgpPlan{global: bgp.Global{ASN: g.ASN, RouterID: g.RouterID, ListenPort: g.ListenPort}, iface: g.VIPInterface, drain: g.DrainTime.D()}
	for _, pc := range g.Peers {
		bp := bgp.Peer{Address: pc.Address, ASN: pc.ASN, Port: pc.Port, Password: pc.Password,
			HoldTime: g.HoldTime.D(), Multihop: pc.Multihop}
		if pc.BFD {
			bp.BFD = bgp.BFD{Interval: pc.BFDInterval.D(), Multiplier: pc.BFDMultiplier}
		}
		p.peers = append(p.peers, bp)
	}
	for _, vs := range cfg.VirtualServers {
		if vs.Announce != config.AnnounceBGP {
			continue
		}
		r := bgp.Route{Prefix: bgp.HostRoute(vs.Address), Communities: vs.Communities}
		if vs.MED != nil {
			r.MED, r.HasMED = *vs.MED, true
		}
		p.services = append(p.services, bgp.Service{Name: vs.Name, Route: r, Instance: vs.AnnounceInstance})
	}
	// An instance's own VIPs (config left out the link-local ones and
	// those a virtual server announces), announced while it is MASTER
	// whatever the services.
	for _, in := range cfg.Instances {
		for _, a := range in.Announced {
			r := bgp.Route{Prefix: bgp.HostRoute(a), Communities: in.Communities}
			if in.MED != nil {
				r.MED, r.HasMED = *in.MED, true
			}
			p.services = append(p.services, bgp.Service{Name: "vrrp_instance " + in.Name + " " + a.String(),
				Route: r, Instance: in.Name, Always: true})
		}
	}
	return p
}

// prefixes are the addresses held on the interface: every announced
// one, whether announced now or not, so that a flow a router still sends
// here is served; but not a VRRP VIP, which its instance holds on the
// master only.
func (p *bgpPlan) prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range p.services {
		if s.Instance == "" && !slices.Contains(out, s.Route.Prefix) {
			out = append(out, s.Route.Prefix)
		}
	}
	return out
}

// gated are the prefixes a VRRP instance holds: announced by its master
// only, never held on the interface.
func (p *bgpPlan) gated() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range p.services {
		if s.Instance != "" && !slices.Contains(out, s.Route.Prefix) {
			out = append(out, s.Route.Prefix)
		}
	}
	return out
}

// vipRecord is the file, beside the status socket, that lists the VIPs
// this daemon added, for the next start after a kill -9.
type vipRecord string

func (r vipRecord) Load() ([]netip.Prefix, error) {
	b, err := os.ReadFile(string(r))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ps []netip.Prefix
	return ps, json.Unmarshal(b, &ps)
}

func (r vipRecord) Save(ps []netip.Prefix) error {
	b, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	return writeFileAtomic(string(r), append(b, '\n'))
}

// startBGP holds the VIPs and starts the speaker, its sessions and the
// loop that announces; nothing is announced before every check of a
// service has a result.
func (d *Daemon) startBGP(ctx context.Context, cfg *config.Config) error {
	p := bgpTranslate(cfg)
	if p == nil {
		return nil
	}
	vips, err := bgp.HoldVIPs(p.iface, p.prefixes(), vipRecord(cfg.Director.StatusSocket+".bgp-vips"))
	if err != nil {
		return fmt.Errorf("BGP: %w", err)
	}
	bin, err := d.bgpSpeaker()
	if err != nil {
		vips.Release()
		return fmt.Errorf("BGP: %w", err)
	}
	// Checked before every start: it runs as root.
	prog := bgp.Program{Path: bin, Args: []string{"--log-format", cfg.Director.LogFormat, "--log-level", cfg.Director.LogLevel},
		Check: privdir.CheckPath}
	sp, err := bgp.StartRemote(ctx, prog, p.global, d.log.With("subsystem", "bgp"), d.onPeer)
	if err != nil {
		vips.Release()
		return err
	}
	if err := sp.SetPeers(ctx, p.peers); err != nil {
		sp.Stop()
		vips.Release()
		return err
	}
	d.bgp.mu.Lock()
	d.bgp.speaker, d.bgp.vips, d.bgp.drain, d.bgp.gated = sp, vips, p.drain, p.gated()
	d.bgp.quorum, d.bgp.kick = map[string]bool{}, make(chan struct{}, 1)
	d.bgp.mu.Unlock()
	d.bgp.ann = bgp.NewAnnouncer(sp, p.services)
	go d.bgpLoop(ctx)
	d.log.Info("BGP running", "asn", p.global.ASN, "router_id", p.global.RouterID, "peers", len(p.peers), "announced_services", len(p.services))
	return nil
}

// bgpSpeaker is the speaker program to run: Options.BGPSpeaker, or
// SpeakerPath. It runs as root, so it must be writable by root alone,
// as the configuration must (bgp.Program.Check).
func (d *Daemon) bgpSpeaker() (string, error) {
	if d.opts.BGPSpeaker != "" {
		return d.opts.BGPSpeaker, nil
	}
	return SpeakerPath()
}

// SpeakerPath is the BGP speaker beside this program: its own path with
// "-bgp" added (/usr/sbin/directord-bgp).
func SpeakerPath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the speaker beside this program: %w", err)
	}
	return self + "-bgp", nil
}

// onPeer reports a session's state change.
func (d *Daemon) onPeer(st bgp.PeerStatus) {
	d.log.Info("BGP session", "peer", st.Address, "state", st.State, "last_error", st.LastError)
	d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "session", Peer: st.Address.String(), State: st.State, Error: st.LastError})
}

// bgpStates records a reconciler pass's quorum (on the reconciler's
// goroutine: nothing here waits for BGP) and wakes the loop.
func (d *Daemon) bgpStates(states []lvs.ServiceState) {
	d.bgp.mu.Lock()
	defer d.bgp.mu.Unlock()
	if d.bgp.kick == nil {
		return
	}
	for _, st := range states {
		d.bgp.quorum[st.Name] = !st.QuorumLost
	}
	select {
	case d.bgp.kick <- struct{}{}:
	default:
	}
}

// bgpMaster records a VRRP instance's mastership (on the VRRP loop:
// nothing here waits for BGP) and wakes the loop, so that a director
// leaving MASTER withdraws the instance's addresses at once.
func (d *Daemon) bgpMaster(instance string, master bool) {
	d.bgp.mu.Lock()
	defer d.bgp.mu.Unlock()
	if d.bgp.master == nil {
		d.bgp.master = map[string]bool{}
	}
	d.bgp.master[instance] = master
	if d.bgp.kick != nil {
		select {
		case d.bgp.kick <- struct{}{}:
		default:
		}
	}
}

// bgpLoop syncs the announcements at each reconciler pass, and every
// 250 ms: a service's checks finishing their first round change no
// quorum, and a failed write is retried.
func (d *Daemon) bgpLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.bgp.kick:
		}
		d.bgpSync(ctx, nil)
	}
}

// bgpSync sets each service's state in the announcer, with services
// replacing its list when not nil, and writes the difference.
func (d *Daemon) bgpSync(ctx context.Context, services []bgp.Service) {
	d.bgp.annMu.Lock()
	defer d.bgp.annMu.Unlock()
	d.bgp.mu.Lock()
	quorum, master, stopping := maps.Clone(d.bgp.quorum), maps.Clone(d.bgp.master), d.bgp.stopping
	d.bgp.mu.Unlock()
	if stopping {
		return
	}
	if services != nil {
		d.bgp.ann.SetServices(services)
		d.bgp.checked = nil
	}
	if d.bgp.checked == nil {
		d.bgp.checked = map[string]bool{}
	}
	for name, up := range quorum {
		if !d.bgp.checked[name] {
			d.bgp.checked[name] = d.bgpChecked(name)
		}
		d.bgp.ann.SetQuorum(name, up && d.bgp.checked[name])
	}
	for instance, m := range master {
		d.bgp.ann.SetMaster(instance, m)
	}
	announced, withdrawn, err := d.bgp.ann.Sync(ctx)
	d.reportSync(announced, withdrawn, err, "")
}

// bgpChecked reports whether every check of the service's reals has a
// result: until then their health is the initial state, not theirs.
func (d *Daemon) bgpChecked(name string) bool {
	cfg := d.config()
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		if vs.Name != name {
			continue
		}
		for j := range vs.RealServers {
			if !d.monitor.Checked(WatchID(vs, &vs.RealServers[j])) {
				return false
			}
		}
	}
	return true
}

// reportSync logs and publishes what a sync changed; the caller holds
// annMu.
func (d *Daemon) reportSync(announced, withdrawn []bgp.Route, err error, reason string) {
	for _, r := range announced {
		d.log.Info("BGP announce", "prefix", r.String())
		d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "announce", Prefix: r.Prefix.String()})
	}
	for _, r := range withdrawn {
		d.log.Info("BGP withdraw", "prefix", r.Prefix.String(), "reason", reason)
		d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "withdraw", Prefix: r.Prefix.String(), Reason: reason})
	}
	var out []string
	for _, r := range d.bgp.ann.Announced() {
		out = append(out, r.String())
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	d.bgp.mu.Lock()
	d.bgp.announced = out
	fresh := msg != "" && msg != d.bgp.lastErr
	d.bgp.lastErr = msg
	// Logged after the unlock: the VRRP loop takes mu (bgpMaster), and a
	// slow log writer must not hold it up.
	d.bgp.mu.Unlock()
	if fresh {
		// Once per new error: the loop retries every 250 ms.
		d.log.Error("BGP: retrying", "err", err)
		d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "error", Error: msg})
	}
}

// checkBGPReload refuses what a reload cannot change in place.
func checkBGPReload(old, cfg *config.Config) error {
	a, b := old.BGP, cfg.BGP
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil || b == nil:
		return errors.New("adding or removing the bgp block takes a restart")
	case a.ASN != b.ASN || a.RouterID != b.RouterID || a.ListenPort != b.ListenPort || a.VIPInterface != b.VIPInterface:
		return errors.New("bgp asn, router_id, listen_port and vip_interface take a restart")
	}
	return nil
}

// reloadBGP changes the peers (an unchanged one keeps its session) and
// the announcements in place; a VIP no longer announced leaves the
// interface after its withdrawal.
func (d *Daemon) reloadBGP(ctx context.Context, cfg *config.Config) {
	p := bgpTranslate(cfg)
	d.bgp.mu.Lock()
	sp, vips, stopping := d.bgp.speaker, d.bgp.vips, d.bgp.stopping
	if p != nil {
		d.bgp.drain = p.drain
	}
	d.bgp.mu.Unlock()
	if p == nil || sp == nil || stopping {
		return
	}
	if err := sp.SetPeers(ctx, p.peers); err != nil {
		d.log.Error("BGP peers", "err", err)
	}
	// What is still announced stays on the interface until withdrawn,
	// but not a VRRP VIP: VRRP holds it, and on lo a backup would answer
	// for it.
	var still []netip.Prefix
	for _, pf := range d.announcedPrefixes() {
		if !slices.Contains(p.gated(), pf) && !slices.Contains(d.bgpGated(), pf) {
			still = append(still, pf)
		}
	}
	if err := vips.Set(append(p.prefixes(), still...)); err != nil {
		d.log.Error("BGP VIPs", "err", err)
	}
	d.bgpSync(ctx, p.services)
	d.bgp.mu.Lock()
	d.bgp.gated = p.gated()
	d.bgp.mu.Unlock()
	if err := vips.Set(p.prefixes()); err != nil {
		d.log.Error("BGP VIPs", "err", err)
	}
}

// bgpGated is the running plan's VRRP-held prefixes.
func (d *Daemon) bgpGated() []netip.Prefix {
	d.bgp.mu.Lock()
	defer d.bgp.mu.Unlock()
	return d.bgp.gated
}

func (d *Daemon) announcedPrefixes() []netip.Prefix {
	d.bgp.annMu.Lock()
	defer d.bgp.annMu.Unlock()
	var out []netip.Prefix
	for _, r := range d.bgp.ann.Announced() {
		out = append(out, r.Prefix)
	}
	return out
}

// stopBGP withdraws every announcement, waits drain_time for the routers
// to move their flows (IPVS keeps serving meanwhile), then ends the
// sessions and releases the VIPs. Only the first call does anything.
func (d *Daemon) stopBGP() {
	d.bgp.mu.Lock()
	if d.bgp.speaker == nil || d.bgp.stopping {
		d.bgp.mu.Unlock()
		return
	}
	d.bgp.stopping = true
	sp, vips, drain := d.bgp.speaker, d.bgp.vips, d.bgp.drain
	d.bgp.mu.Unlock()

	d.bgp.annMu.Lock()
	withdrawn, err := d.bgp.ann.Stop(context.Background())
	d.reportSync(nil, withdrawn, err, "stop")
	d.bgp.annMu.Unlock()
	if len(withdrawn) > 0 && drain > 0 {
		d.log.Info("BGP: withdrawn, draining before stop", "drain_time", drain)
		time.Sleep(drain)
	}
	sp.Stop()
	if err := vips.Release(); err != nil {
		d.log.Error("BGP: releasing the VIPs", "err", err)
	}
}

// BGPStatus is the BGP part of the status.
type BGPStatus struct {
	Peers     []bgp.PeerStatus `json:"peers"`
	Announced []string         `json:"announced"`
	LastError string           `json:"last_error,omitempty"`
}

func (d *Daemon) bgpStatus(ctx context.Context) *BGPStatus {
	d.bgp.mu.Lock()
	sp := d.bgp.speaker
	st := &BGPStatus{Announced: append([]string{}, d.bgp.announced...), LastError: d.bgp.lastErr}
	d.bgp.mu.Unlock()
	if sp == nil {
		return nil
	}
	peers, err := sp.Peers(ctx)
	if err != nil && st.LastError == "" {
		st.LastError = err.Error()
	}
	st.Peers = peers
	return st
}
