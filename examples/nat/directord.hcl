# LVS-NAT: clients reach 203.0.113.10 on the outside network; the real
# servers sit on 10.0.0.0/24 and use the directors' shared inside address
# 10.0.0.1 as their default gateway, so replies come back through the
# active director to be rewritten. The two VIPs must move together, hence
# the sync group. The director also needs net.ipv4.ip_forward = 1.
#
# On the peer director, change router_id and lower both priorities.

director {
  router_id      = "nat-lb1"
  metrics_listen = "127.0.0.1:9110"
}

vrrp_instance "outside" {
  interface         = "eth0"
  virtual_router_id = 61
  priority          = 150
  virtual_ips       = ["203.0.113.10/24"]
  track_interface "eth1" {} # inside link down: give up both VIPs
}

vrrp_instance "inside" {
  interface         = "eth1"
  virtual_router_id = 62
  priority          = 150
  virtual_ips       = ["10.0.0.1/24"]
}

vrrp_sync_group "nat" {
  instances = ["outside", "inside"]
}

virtual_server "https" {
  address    = "203.0.113.10"
  port       = 443
  protocol   = "tcp"
  scheduler  = "wlc"
  forwarding = "nat"
  # Keep the old weights when a backend dies, but send nobody new to it.
  on_failure  = "weight_zero"
  sorry_server = "10.0.0.99:8443"

  health_check "https" {
    path            = "/healthz"
    tls_server_name = "www.example.com"
    ca_file         = "/etc/directord/internal-ca.pem"
    status          = [200, "204"]
    interval        = "3s"
    timeout         = "1s"
  }

  # NAT rewrites the port: the backends listen on 8443.
  real_server "10.0.0.21" {
    port   = 8443
    weight = 10
  }
  real_server "10.0.0.22" {
    port   = 8443
    weight = 10
  }
  real_server "10.0.0.23" {
    port            = 8443
    weight          = 5
    upper_threshold = 2000
  }
}

virtual_server "dns" {
  address    = "203.0.113.10"
  port       = 53
  protocol   = "udp"
  scheduler  = "rr"
  forwarding = "nat"
  scheduler_flags = ["one-packet"]

  health_check "exec" {
    # Runs without a shell; the target comes in DIRECTORD_CHECK_ADDRESS and
    # DIRECTORD_CHECK_PORT. The script ships next to this file (check-dns):
    # install it root-owned at this path.
    command  = ["/usr/lib/directord/check-dns", "example.com"]
    interval = "5s"
    timeout  = "2s"
  }

  real_server "10.0.0.31" {}
  real_server "10.0.0.32" {}
}

virtual_server "smtp" {
  address    = "203.0.113.10"
  port       = 25
  protocol   = "tcp"
  scheduler  = "wlc"
  forwarding = "nat"

  # Two checks, both of which must pass: the mail server speaks SMTP, and
  # its host answers pings (as keepalived's SMTP_CHECK and PING_CHECK
  # under one real_server).
  health_check "smtp" {
    helo_name = "nat-lb1.example.com"
    interval  = "5s"
    timeout   = "2s"
  }
  health_check "icmp" {
    count    = 3
    interval = "5s"
    timeout  = "1500ms"
  }

  real_server "10.0.0.41" {}
  real_server "10.0.0.42" {}
}

ipvs {
  tcp_timeout    = "900s"
  tcpfin_timeout = "120s"
  udp_timeout    = "300s"
}
