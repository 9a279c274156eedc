# The LVS-DR example of the seed how-to (../../README.md, "Two real
# directors"), run as a highly available pair. This is lb1, the preferred
# master; lb2.hcl is its peer and differs only in router_id and priority.
#
# The seed's director script did, by hand:
#   ipvsadm -A -t 192.168.11.100:80 -s wrr
#   ipvsadm -a -t 192.168.11.100:80 -r 192.168.11.12 -g -w 2
#   ipvsadm -a -t 192.168.11.100:80 -r 192.168.11.13 -g -w 4
# and put the VIP on eth0:1. Here VRRP decides which director holds the
# VIP, and an HTTP check takes a dead real server out of rotation.

director {
  router_id = "lb1"
}

vrrp_instance "web" {
  interface         = "eth0"
  virtual_router_id = 51
  priority          = 150
  advert_interval   = "1s"
  # The seed used netmask 255.255.255.255 on the alias eth0:1.
  virtual_ips = ["192.168.11.100/32 label eth0:1"]
}

virtual_server "web" {
  address    = "192.168.11.100"
  port       = 80
  protocol   = "tcp"
  scheduler  = "wrr"
  forwarding = "dr"

  health_check "http" {
    path     = "/"
    interval = "2s"
    timeout  = "1s"
    rise     = 2
    fall     = 3
  }

  real_server "192.168.11.12" {
    weight = 2
  }
  real_server "192.168.11.13" {
    weight = 4
  }
}
