# Active-active directors: every director runs this file (with its own
# router_id) and announces the VIP to both routers over BGP while the
# service has quorum on it. The routers spread flows over the directors
# with ECMP; mh (Maglev) hashing over the same real servers on every
# director sends a flow to the same real server whichever director it
# reaches, and sloppy_tcp lets a director take a flow mid-stream.
#
# Routers: one session per director, ECMP on (BIRD: "merge paths on" in
# the kernel protocol; FRR: "maximum-paths 8"), hashing on L4
# (net.ipv4.fib_multipath_hash_policy = 1), and nothing exported to the
# directors.

director {
  router_id = "192.0.2.11" # also the BGP router ID: an IPv4 address
}

bgp {
  asn       = 65001
  hold_time = "9s"   # 3s to 65535s; bfd on the peers finds a lost director sooner
  # On SIGTERM: withdraw, keep serving for this long while the routers
  # move the flows, then stop.
  drain_time = "5s"
  # The VIP lives here on every director, announced or not.
  vip_interface = "lo"

  peer "192.0.2.1" {
    asn = 65000
  }
  peer "192.0.2.2" {
    asn = 65000
    # A BFD session beside the BGP one: the router drops this director
    # 3 × 300 ms after its packets stop (the router needs BFD on too).
    bfd            = true
    bfd_interval   = "300ms"
    bfd_multiplier = 3
  }
}

ipvs {
  sysctl {
    # A director that receives a flow mid-stream (after another director
    # died, or the routers rehashed) accepts it instead of resetting it.
    sloppy_tcp = true
  }
}

virtual_server "web" {
  address   = "10.0.0.100"
  port      = 80
  # Maglev: every director maps a flow to the same real server.
  scheduler       = "mh"
  scheduler_flags = ["mh-port"]
  forwarding      = "dr"
  announce        = "bgp"
  communities     = ["65000:100"]

  health_check "http" {
    path     = "/"
    interval = "2s"
    timeout  = "1s"
    fall     = 3
  }

  real_server "192.168.11.12" {}
  real_server "192.168.11.13" {}
  real_server "192.168.11.14" {}
}
