// Package bgp announces virtual servers' addresses to routers over BGP
// (RFC 4271), so that N active directors share the traffic by the
// routers' ECMP, instead of one VRRP master taking all of it.
//
// A director announces a virtual server's address as a host route (/32,
// /128) while the service has quorum on it, and withdraws it when quorum
// is lost or the daemon stops: the routers then hash flows over the
// directors that still can serve them. Every director programs the same
// real servers with IPVS's mh (Maglev) scheduler, so a flow that the
// routers move to another director reaches the same real server there.
//
// The policy is in Announcer, a pure core: it is told the services, their
// quorum, and a Speaker to announce through, and keeps the announced
// routes equal to what the services call for, writing only the
// difference. The Speaker in production is GoBGP (github.com/osrg/gobgp/
// v4) as a library (package bgp/gobgp): sessions, timers, BFD (RFC
// 5880/5881) and the UPDATE messages are its. It runs in a process of
// its own, directord-bgp, which the daemon starts when the configuration
// has a bgp block and drives over a pipe (Remote, ServeSpeaker): GoBGP
// links gRPC and protobuf, and a Go process runs the init code of
// everything it links, so in the daemon it cost every director 7 MB of
// memory whether it spoke BGP or not. Attributes: ORIGIN IGP, NEXT_HOP self
// (the session's own address), COMMUNITIES (RFC 1997) and MED as the
// virtual server asks.
package bgp
