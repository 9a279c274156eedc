// Package gobgp is the bgp.Session of directord's speaker process
// (cmd/directord-bgp): GoBGP v4 (github.com/osrg/gobgp/v4) embedded as a
// library. A director's routes are host routes (RFC 4271 UPDATEs with
// ORIGIN IGP, NEXT_HOP self, COMMUNITIES per RFC 1997 and MED), over
// sessions with optional BFD (RFC 5880, single hop per RFC 5881).
//
// Only the speaker process links it: see package bgp for why.
package gobgp
