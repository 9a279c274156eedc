package gobgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"directord/bgp"
)

// GoBGP is the Session of a running director: GoBGP embedded, in the
// speaker process (cmd/directord-bgp).
type GoBGP struct {
	s     *server.BgpServer
	log   *slog.Logger
	mu    sync.Mutex
	peers map[netip.Addr]bgp.Peer
	stop  sync.Once
}

var _ bgp.Session = (*GoBGP)(nil)

// Start starts the speaker; onPeer (may be nil) hears every session
// state change.
func Start(ctx context.Context, g bgp.Global, log *slog.Logger, onPeer func(bgp.PeerStatus)) (*GoBGP, error) {
	lvl := new(slog.LevelVar)
	lvl.Set(slog.LevelWarn) // GoBGP is chatty at info
	s := server.NewBgpServer(server.LoggerOption(log.With("subsystem", "gobgp"), lvl))
	go s.Serve()
	port := int32(g.ListenPort)
	if port == 0 {
		port = -1 // GoBGP's "do not listen"
	}
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: g.ASN, RouterId: g.RouterID.String(), ListenPort: port,
	}}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("starting BGP: %w", err)
	}
	// No import policy: GoBGP's global one applies to the director's own
	// paths too (a default reject withdrew them). Routes the routers send
	// stay in GoBGP's table and are installed nowhere; routers should
	// export nothing to directors.
	if onPeer != nil {
		if err := s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
			OnPeerUpdate: func(e *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
				if e.Type == apiutil.PEER_EVENT_STATE {
					onPeer(status(e.Peer))
				}
			},
		}, server.WatchPeer()); err != nil {
			s.Stop()
			return nil, fmt.Errorf("watching BGP peers: %w", err)
		}
	}
	return &GoBGP{s: s, log: log, peers: map[netip.Addr]bgp.Peer{}}, nil
}

func status(p apiutil.Peer) bgp.PeerStatus {
	st := bgp.PeerStatus{Address: p.State.NeighborAddress, ASN: p.State.PeerASN, State: fsmState(p.State.SessionState)}
	if !st.Address.IsValid() {
		st.Address = p.Conf.NeighborAddress
	}
	if st.ASN == 0 {
		st.ASN = p.Conf.PeerASN
	}
	// GoBGP gives a reason with every transition; it is an error only
	// when the session fell back to idle.
	if st.State == "idle" {
		st.LastError = p.State.DisconnectMessage
		if st.LastError == "" && p.State.DisconnectReason != api.PeerState_DISCONNECT_REASON_UNSPECIFIED {
			st.LastError = p.State.DisconnectReason.String()
		}
	}
	return st
}

// fsmState names GoBGP's FSM state as the API does: the API's states
// are the FSM's, from 1 (0 is "unspecified").
func fsmState(s gbgp.FSMState) string { return apiState(api.PeerState_SessionState(s + 1)) }

// SetPeers makes the sessions those of peers: new ones are added,
// removed ones deleted, changed ones replaced; an unchanged peer's
// session is not touched, so a reload keeps it up.
func (g *GoBGP) SetPeers(ctx context.Context, peers []bgp.Peer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	want := map[netip.Addr]bgp.Peer{}
	for _, p := range peers {
		want[p.Address] = p
	}
	for addr, old := range g.peers {
		if p, ok := want[addr]; ok && peerEqual(p, old) {
			continue
		}
		if err := g.s.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr.String()}); err != nil {
			return fmt.Errorf("BGP peer %s: %w", addr, err)
		}
		delete(g.peers, addr)
	}
	for addr, p := range want {
		if _, ok := g.peers[addr]; ok {
			continue
		}
		if err := g.s.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p)}); err != nil {
			return fmt.Errorf("BGP peer %s: %w", addr, err)
		}
		g.peers[addr] = p
	}
	return nil
}

func peerEqual(a, b bgp.Peer) bool { return a == b }

func apiPeer(p bgp.Peer) *api.Peer {
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if p.Address.Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	ap := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: uint64(p.HoldTime / time.Second), KeepaliveInterval: uint64(p.HoldTime / 3 / time.Second),
			// Reconnect soon after a router restarts or a session
			// drops (GoBGP's defaults are 120 s and 30 s): a director
			// out of the ECMP group is capacity lost.
			ConnectRetry: 5, IdleHoldTimeAfterReset: 5,
		}},
		// The session's own family only: GoBGP's next hop self is the
		// session's address, which a router cannot use for the other
		// family (config refuses a VIP with no peer of its family).
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}
	if p.Multihop > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	if p.BFD.Interval > 0 {
		us := uint32(p.BFD.Interval / time.Microsecond)
		ap.Bfd = &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: us, RequiredMinimumReceive: us,
			DetectionMultiplier: uint32(p.BFD.Multiplier)}
	}
	return ap
}

// path is r as GoBGP's path: ORIGIN IGP, the next hop left for GoBGP to
// set to the session's own address (0.0.0.0 or ::), the communities and
// the MED.
func path(r bgp.Route) (*apiutil.Path, error) {
	nlri, err := gbgp.NewIPAddrPrefix(r.Prefix)
	if err != nil {
		return nil, err
	}
	fam, nh := gbgp.RF_IPv4_UC, netip.IPv4Unspecified()
	if r.Prefix.Addr().Is6() {
		fam, nh = gbgp.RF_IPv6_UC, netip.IPv6Unspecified()
	}
	attrs := []gbgp.PathAttributeInterface{gbgp.NewPathAttributeOrigin(gbgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if fam == gbgp.RF_IPv4_UC {
		a, err := gbgp.NewPathAttributeNextHop(nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	} else {
		a, err := gbgp.NewPathAttributeMpReachNLRI(fam, []gbgp.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	}
	if len(r.Communities) > 0 {
		attrs = append(attrs, gbgp.NewPathAttributeCommunities(slices.Clone(r.Communities)))
	}
	if r.HasMED {
		attrs = append(attrs, gbgp.NewPathAttributeMultiExitDisc(r.MED))
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs}, nil
}

// Announce implements Speaker.
func (g *GoBGP) Announce(_ context.Context, r bgp.Route) error {
	p, err := path(r)
	if err != nil {
		return err
	}
	_, err = g.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}})
	return err
}

// Withdraw implements Speaker.
func (g *GoBGP) Withdraw(_ context.Context, prefix netip.Prefix) error {
	p, err := path(bgp.Route{Prefix: prefix})
	if err != nil {
		return err
	}
	return g.s.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}})
}

// Peers is every session's state now.
func (g *GoBGP) Peers(ctx context.Context) ([]bgp.PeerStatus, error) {
	var out []bgp.PeerStatus
	err := g.s.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st := bgp.PeerStatus{State: "unknown"}
		if p.Conf != nil {
			st.Address, _ = netip.ParseAddr(p.Conf.NeighborAddress)
			st.ASN = p.Conf.PeerAsn
		}
		if s := p.State; s != nil {
			st.State = apiState(s.SessionState)
			if st.State == "idle" {
				st.LastError = s.DisconnectMessage
			}
		}
		out = append(out, st)
	})
	slices.SortFunc(out, func(a, b bgp.PeerStatus) int { return a.Address.Compare(b.Address) })
	return out, err
}

// apiState is "idle", "connect", "active", "opensent", "openconfirm"
// or "established".
func apiState(s api.PeerState_SessionState) string {
	name, ok := api.PeerState_SessionState_name[int32(s)]
	if !ok || s == api.PeerState_SESSION_STATE_UNSPECIFIED {
		return "unknown"
	}
	return strings.ToLower(strings.TrimPrefix(name, "SESSION_STATE_"))
}

// Stop ends every session (a Cease to each router, which withdraws
// everything this director announced) and the speaker.
// Only the first call does anything.
func (g *GoBGP) Stop() {
	// BgpServer.Stop ends the sessions (StopBgp) and the BFD server.
	g.stop.Do(g.s.Stop)
}
