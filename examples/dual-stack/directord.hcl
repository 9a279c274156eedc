# A dual-stack web service in LVS-DR: the same real servers behind an IPv4
# and an IPv6 VIP. VRRP runs one address family per instance (as in
# keepalived, and as RFC 9568 requires of an advert), so there are two
# instances, kept together by a sync group: both VIPs move at once.
#
# The IPv6 instance advertises to ff02::12 from eth0's link-local
# address; its first VIP is a link-local one (RFC 9568 §5.2.9 asks for
# that: hosts on the LAN learn the virtual router from it). IPv6 VIPs are
# added without duplicate address detection and announced with
# unsolicited neighbour advertisements, as IPv4 ones with gratuitous ARP.
#
# On the real servers: directord realserver up --vip 192.0.2.100 --vip 2001:db8:10::100
# (IPv6 needs no arp_ignore: Linux answers neighbour solicitations only
# for addresses of the interface they arrive on).

director {
  router_id = "lb1"
}

vrrp_sync_group "web" {
  instances = ["web4", "web6"]
}

vrrp_instance "web4" {
  interface         = "eth0"
  virtual_router_id = 51
  priority          = 150
  advert_interval   = "1s"
  virtual_ips       = ["192.0.2.100/24"]
}

vrrp_instance "web6" {
  interface         = "eth0"
  virtual_router_id = 52
  priority          = 150
  advert_interval   = "1s"
  virtual_ips       = ["fe80::52/64", "2001:db8:10::100/64"]
}

virtual_server "web4" {
  address    = "192.0.2.100"
  port       = 80
  protocol   = "tcp"
  scheduler  = "wlc"
  forwarding = "dr"

  health_check "http" {
    path     = "/healthz"
    interval = "2s"
    timeout  = "1s"
  }

  real_server "192.0.2.11" {}
  real_server "192.0.2.12" {}
}

virtual_server "web6" {
  address    = "2001:db8:10::100"
  port       = 80
  protocol   = "tcp"
  scheduler  = "wlc"
  forwarding = "dr"

  health_check "http" {
    path     = "/healthz"
    interval = "2s"
    timeout  = "1s"
  }

  real_server "2001:db8:10::11" {}
  real_server "2001:db8:10::12" {}
}
