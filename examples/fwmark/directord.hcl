# A firewall-mark service with persistence: HTTP and HTTPS to the VIP are
# marked 1 by nftables, so a client stays on one real server for both
# ports (a shopping cart over http and https):
#
#   nft add table ip mangle
#   nft add chain ip mangle prerouting '{ type filter hook prerouting priority mangle; }'
#   nft add rule ip mangle prerouting ip daddr 192.168.20.100 tcp dport '{ 80, 443 }' meta mark set 1
#
# The real servers take the packet's own port (no port is declared), so the
# checks say which port to probe.

director {
  router_id = "shop-lb1"
}

vrrp_instance "shop" {
  interface         = "eth0"
  virtual_router_id = 20
  priority          = 150
  version           = 2
  advert_interval   = "1s"
  virtual_ips       = ["192.168.20.100/24"]

  authentication {
    type     = "pass"
    password = "shop20"
  }
}

virtual_server "shop" {
  fwmark              = 1
  family              = "inet"
  scheduler           = "wlc"
  forwarding          = "dr"
  persistence_timeout = "600s"
  persistence_netmask = "255.255.255.0"
  quorum              = 2
  hysteresis          = 1
  # Below quorum the maintenance server takes every new connection (the
  # reals still up go to weight 0); above it, it stays at weight 0 so its
  # last connections drain rather than break.
  sorry_server         = "192.168.20.99"
  sorry_server_inhibit = true

  health_check "http" {
    connect_port = 80
    path         = "/health"
    body_regex   = "^ok"
  }

  real_server "192.168.20.11" { weight = 1 }
  real_server "192.168.20.12" { weight = 1 }
  real_server "192.168.20.13" { weight = 2 }
}
