package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"directord/bgp"
	"directord/config"
	"directord/internal/events"
	"directord/lvs"
)

// bgpMode is the BGP side of a running director: the speaker, what it
// announces, and the VIPs it holds on the bgp block's interface.
type bgpMode struct {
	mu       sync.Mutex
	speaker  *bgp.GoBGP
	ann      *bgp.Announcer
	vips     *bgp.VIPs
	drain    time.Duration
	lastErr  string
	stopping bool
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
		p.peers = append(p.peers, bgp.Peer{Address: pc.Address, ASN: pc.ASN, Port: pc.Port, Password: pc.Password,
			HoldTime: g.HoldTime.D(), Multihop: pc.Multihop, BFD: pc.BFD})
	}
	for _, vs := range cfg.VirtualServers {
		if vs.Announce != config.AnnounceBGP {
			continue
		}
		r := bgp.Route{Prefix: bgp.HostRoute(vs.Address), Communities: vs.Communities}
		if vs.MED != nil {
			r.MED, r.HasMED = *vs.MED, true
		}
		p.services = append(p.services, bgp.Service{Name: vs.Name, Route: r})
	}
	return p
}

// prefixes are the addresses held on the interface: every announced
// one, whether announced now or not, so that a flow a router still sends
// here is served.
func (p *bgpPlan) prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range p.services {
		if !slices.Contains(out, s.Route.Prefix) {
			out = append(out, s.Route.Prefix)
		}
	}
	return out
}

// startBGP holds the VIPs and starts the speaker and its sessions;
// nothing is announced before the reconciler's first pass says which
// services have quorum.
func (d *Daemon) startBGP(ctx context.Context, cfg *config.Config) error {
	p := bgpTranslate(cfg)
	if p == nil {
		return nil
	}
	vips, err := bgp.HoldVIPs(p.iface, p.prefixes())
	if err != nil {
		return fmt.Errorf("BGP: %w", err)
	}
	sp, err := bgp.StartGoBGP(ctx, p.global, d.log.With("subsystem", "bgp"), d.onPeer)
	if err != nil {
		vips.Release()
		return err
	}
	if err := sp.SetPeers(ctx, p.peers); err != nil {
		sp.Stop(ctx)
		vips.Release()
		return err
	}
	d.bgp.mu.Lock()
	d.bgp.speaker, d.bgp.ann, d.bgp.vips, d.bgp.drain = sp, bgp.NewAnnouncer(sp, p.services), vips, p.drain
	d.bgp.mu.Unlock()
	d.log.Info("BGP running", "asn", p.global.ASN, "router_id", p.global.RouterID, "peers", len(p.peers), "announced_services", len(p.services))
	return nil
}

// onPeer reports a session's state change.
func (d *Daemon) onPeer(st bgp.PeerStatus) {
	d.log.Info("BGP session", "peer", st.Address, "state", st.State, "last_error", st.LastError)
	d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "session", Peer: st.Address.String(), State: st.State, Error: st.LastError})
}

// bgpStates takes a reconciler pass's quorum into the announcements.
func (d *Daemon) bgpStates(states []lvs.ServiceState) {
	d.bgp.mu.Lock()
	defer d.bgp.mu.Unlock()
	if d.bgp.ann == nil {
		return
	}
	for _, st := range states {
		d.bgp.ann.SetQuorum(st.Name, !st.QuorumLost)
	}
	d.bgpSyncLocked(context.Background())
}

// bgpSyncLocked writes the announcements' difference and reports it.
func (d *Daemon) bgpSyncLocked(ctx context.Context) {
	announced, withdrawn, err := d.bgp.ann.Sync(ctx)
	for _, r := range announced {
		d.log.Info("BGP announce", "prefix", r.String())
		d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "announce", Prefix: r.Prefix.String()})
	}
	for _, r := range withdrawn {
		d.log.Info("BGP withdraw", "prefix", r.Prefix.String())
		d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "withdraw", Prefix: r.Prefix.String()})
	}
	if err != nil {
		d.bgp.lastErr = err.Error()
		d.log.Error("BGP: will retry at the next pass", "err", err)
		d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "error", Error: err.Error()})
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
// the announced services in place.
func (d *Daemon) reloadBGP(ctx context.Context, cfg *config.Config) {
	p := bgpTranslate(cfg)
	d.bgp.mu.Lock()
	defer d.bgp.mu.Unlock()
	if p == nil || d.bgp.speaker == nil {
		return
	}
	if err := d.bgp.speaker.SetPeers(ctx, p.peers); err != nil {
		d.bgp.lastErr = err.Error()
		d.log.Error("BGP peers", "err", err)
	}
	if err := d.bgp.vips.Set(p.prefixes()); err != nil {
		d.bgp.lastErr = err.Error()
		d.log.Error("BGP VIPs", "err", err)
	}
	d.bgp.drain = p.drain
	d.bgp.ann.SetServices(p.services)
	d.bgpSyncLocked(ctx)
}

// stopBGP withdraws every announcement, waits drain_time for the routers
// to move their flows (IPVS keeps serving meanwhile), then ends the
// sessions and releases the VIPs.
func (d *Daemon) stopBGP() {
	d.bgp.mu.Lock()
	if d.bgp.speaker == nil || d.bgp.stopping {
		d.bgp.mu.Unlock()
		return
	}
	d.bgp.stopping = true
	ctx := context.Background()
	withdrawn, err := d.bgp.ann.Stop(ctx)
	for _, r := range withdrawn {
		d.events.Publish(events.Event{Time: time.Now(), Kind: events.KindBGP, Op: "withdraw", Prefix: r.Prefix.String(), Reason: "stop"})
	}
	if err != nil {
		d.log.Error("BGP: withdrawing at stop", "err", err)
	}
	drain := d.bgp.drain
	d.bgp.mu.Unlock()
	if len(withdrawn) > 0 && drain > 0 {
		d.log.Info("BGP: withdrawn, draining before stop", "drain_time", drain)
		time.Sleep(drain)
	}
	d.bgp.mu.Lock()
	defer d.bgp.mu.Unlock()
	d.bgp.speaker.Stop(ctx)
	d.bgp.vips.Release()
}

// BGPStatus is the BGP part of the status.
type BGPStatus struct {
	Peers     []bgp.PeerStatus `json:"peers"`
	Announced []string         `json:"announced"`
	LastError string           `json:"last_error,omitempty"`
}

func (d *Daemon) bgpStatus(ctx context.Context) *BGPStatus {
	d.bgp.mu.Lock()
	defer d.bgp.mu.Unlock()
	if d.bgp.speaker == nil {
		return nil
	}
	st := &BGPStatus{Announced: []string{}, LastError: d.bgp.lastErr}
	for _, r := range d.bgp.ann.Announced() {
		st.Announced = append(st.Announced, r.String())
	}
	peers, err := d.bgp.speaker.Peers(ctx)
	if err != nil {
		st.LastError = err.Error()
	}
	st.Peers = peers
	return st
}
