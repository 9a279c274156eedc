# The seed's LVS-DR pair with connection synchronisation: established
# connections (downloads, websockets, sessions pinned to a real server by
# persistence) survive a failover and the failback. This is lb2; lb1.hcl
# differs only in router_id and priority.
#
# eth0 carries the VIP and VRRP; eth1 is a link between the two directors
# (back to back, or a private VLAN) that carries the connection sync
# messages: about 37 bytes per new connection, so 10,000 new connections
# a second are 3 Mbit/s.

director {
  router_id = "lb2"
}

vrrp_instance "web" {
  interface         = "eth0"
  virtual_router_id = 51
  priority          = 100
  advert_interval   = "1s"
  # When this director comes back (a restart, or its link), it waits before taking
  # the VIP back, so that the connections its peer opened meanwhile reach it
  # through the sync daemons first (IPVS re-sends an active connection
  # every 50 of its packets). See the README, "Connections through a
  # failover".
  preempt_delay = "15s"
  virtual_ips   = ["192.168.11.100/32 label eth0:1"]
}

virtual_server "web" {
  address    = "192.168.11.100"
  port       = 443
  protocol   = "tcp"
  scheduler  = "wrr"
  forwarding = "dr"
  # A client keeps its real server for 5 minutes; the templates that pin
  # it are synced too.
  persistence_timeout = "300s"

  health_check "tcp" {
    interval = "2s"
    timeout  = "1s"
  }

  real_server "192.168.11.12" {
    weight = 2
  }
  real_server "192.168.11.13" {
    weight = 4
  }
}

ipvs {
  # No vrrp_instance: the master and the backup daemon run on both
  # directors all the time, so a director whose daemon was down (a
  # restart) or that never stopped listening (any failover) has every
  # connection its peer opened. Name an instance to get keepalived's
  # switching instead.
  sync_daemon {
    interface = "eth1"
    sync_id   = 51
  }

  sysctl {
    # A real drained or failed to weight 0 releases its persistent
    # clients: their next connection goes to a working real instead of
    # the drained one until the persistence timeout.
    expire_quiescent_template = true
    # A new connection from a client port whose last connection (in the
    # last two minutes: in DR IPVS never sees the real's FIN) went to a
    # real now at weight 0 is scheduled afresh, not sent to that real.
    expire_nodest_conn = true
  }
}
