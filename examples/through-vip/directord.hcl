# The seed's LVS-DR service with its checks sent through the VIP: each
# real server is checked at 192.168.11.100:80, steered to it by a socket
# mark, so a real that lost the VIP on its lo (a reboot without the
# realserver setup, a cleaned-up interface) is taken out even though its
# own address still answers. A plain check of its own address would keep
# sending it traffic it drops. Run it on both directors (this is lb1; lb2
# differs in router_id and priority): the backup checks the same way.

director {
  router_id = "lb1"
  # The marks the checks are steered by; the default, written out. A
  # fwmark virtual_server must not use one of them.
  through_vip_marks = "0x44490000/0xffff0000"
}

vrrp_instance "web" {
  interface         = "eth0"
  virtual_router_id = 51
  priority          = 150
  advert_interval   = "1s"
  virtual_ips       = ["192.168.11.100/24"]
}

virtual_server "web" {
  address    = "192.168.11.100"
  port       = 80
  protocol   = "tcp"
  scheduler  = "wrr"
  forwarding = "dr"

  health_check "http" {
    path        = "/"
    through_vip = true
    interval    = "2s"
    timeout     = "1s"
    rise        = 2
    fall        = 3
  }

  real_server "192.168.11.12" {
    weight = 2
  }
  real_server "192.168.11.13" {
    weight = 4
  }
}
