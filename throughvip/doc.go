// Package throughvip steers health checks through the VIP: a check of a
// direct-routing or tunnelled real server connects to the virtual
// server's address, so it proves the real answers for the VIP (the VIP on
// its lo, its ARP settings, a listener on the VIP), which probing the
// real's own address cannot. Seesaw checks DSR reals this way; keepalived
// cannot.
//
// Each such real has a socket mark (config's through_vip_marks). Its
// checks set it with SO_MARK, and two things steer marked packets:
//
//   - A policy route, which this package installs and removes through
//     netlink: a rule "fwmark M lookup M" (priority RulePriority) and in
//     table M a route for each VIP through that real ("VIP via REAL
//     onlink", or via the gateway towards a tunnelled real). On a director
//     that does not hold the VIP this alone sends the check to the real,
//     whatever the main table says about the VIP.
//   - A one-real IPVS fwmark service (lvs.Probe, kept by the reconciler).
//     On the director that holds the VIP, the local table is consulted
//     before every rule and would deliver the packet to the director
//     itself; IPVS's LOCAL_OUT hook sees the marked packet first and
//     sends it to the real by direct routing or tunnel, the VIP still its
//     destination.
//
// The real answers from the VIP. On the director holding the VIP that
// reply has a local source address, which Linux drops as a martian unless
// net.ipv4.conf.IFACE.accept_local is 1; Apply sets it on each interface
// IPv4 reals with such checks are reached through (keepalived sets the
// same sysctl for its VMAC interfaces), and Close restores what it found.
// IPv6 has no such check.
//
// Ownership: a rule is this package's when its mark is in the configured
// range and its table equals its mark; a route when its table is such a
// mark. Apply reads the kernel each time, so it adopts what a killed
// daemon left and removes what no real needs any more; nothing else is
// touched. plan.go is the pure part (wanted against installed); linux.go
// talks to the kernel.
package throughvip
