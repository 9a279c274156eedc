# Imported by `directord import keepalived` from examples/keepalived/keepalived.conf.
director {
  router_id = "lb1"
  # examples/keepalived/keepalived.conf:5: notification_email dropped: no directord equivalent
  # examples/keepalived/keepalived.conf:8: enable_script_security: always on: directord runs every program without a shell, and refuses ones others may write
  script_user = "nobody"
}

vrrp_instance "web" {
  version = 2
  # examples/keepalived/keepalived.conf:22: state: every instance starts as backup; priority and preemption decide, as keepalived does after its first advert
  interface         = "eth0"
  virtual_router_id = 51
  priority          = 150
  advert_interval   = "1s"
  authentication {
    type     = "PASS"
    password = "s3cret"
  }
  track_script "chk_haproxy_free" {
    command  = ["/usr/bin/true"]
    interval = "2s"
    timeout  = "1s"
    fall     = 2
    rise     = 2
    weight   = -20
  }
  virtual_ips = ["192.168.11.100/32 dev eth0 label eth0:1"]
  notify {
    master = ["/usr/bin/logger", "-t", "keepalived", "web", "is", "master"]
  }
}

virtual_server "tcp_192_168_11_100_80" {
  address    = "192.168.11.100"
  port       = 80
  scheduler  = "wrr"
  forwarding = "dr"
  protocol   = "tcp"
  real_server "192.168.11.12" {
    weight = 2
    health_check "http" {
      path        = "/"
      status      = ["200"]
      retry_delay = "1s"
      interval    = "2s"
      timeout     = "1s"
      fall        = 4
    }
  }
  real_server "192.168.11.13" {
    weight = 4
    health_check "http" {
      path        = "/"
      status      = ["200"]
      retry_delay = "1s"
      interval    = "2s"
      timeout     = "1s"
      fall        = 4
    }
  }
}
