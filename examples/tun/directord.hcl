# LVS-TUN: the real servers are in another network and receive the
# client's packets wrapped in IPIP; each answers the client directly from
# the VIP, which it holds on a tunl0 or lo device with arp_ignore=1 and
# arp_announce=2 (see `directord realserver up --vip 198.51.100.80`).
#
# The director pair speaks unicast VRRP, as on networks that filter
# multicast. On the peer, swap unicast_src and unicast_peers and lower the
# priority.

director {
  router_id = "tun-lb1"
}

vrrp_instance "edge" {
  interface         = "ens3"
  virtual_router_id = 80
  priority          = 200
  advert_interval   = "100ms"
  preempt_delay     = "30s"
  virtual_ips       = ["198.51.100.80/32"]
  unicast_src       = "192.0.2.11"
  unicast_peers     = ["192.0.2.12"]

  garp {
    repeat  = 3
    refresh = "60s"
  }

  notify {
    master = ["/usr/bin/logger", "-t", "directord", "became master"]
    fault  = ["/usr/bin/logger", "-t", "directord", "fault"]
  }
}

virtual_server "web" {
  address    = "198.51.100.80"
  port       = 80
  scheduler  = "wlc"
  forwarding = "tun"

  health_check "tcp" {
    interval = "1s"
    timeout  = "500ms"
    fall     = 2
  }

  real_server "203.0.113.21" {}
  real_server "203.0.113.22" {}
  real_server "192.0.2.50" {
    # A local spare, reached without a tunnel.
    forwarding = "dr"
    weight     = 0
  }
}
