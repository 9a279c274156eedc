# Three VIPs × the same 20 real servers from one address plan: locals, functions and dynamic blocks.
locals {
  vips  = ["192.168.20.10", "192.168.20.11", "192.168.20.12"]
  reals = [for i in range(20) : cidrhost("10.20.0.0/24", 11 + i)]
}

vrrp_instance "web" {
  interface         = "eth0"
  virtual_router_id = 60
  priority          = 150
  virtual_ips       = [for v in local.vips : "${v}/24"]
}

dynamic "virtual_server" {
  for_each = local.vips
  labels   = [format("web-%d", virtual_server.key + 1)]
  content {
    address    = virtual_server.value
    port       = 80
    scheduler  = "wrr"
    forwarding = "dr"
    health_check "http" { path = "/health" }
    dynamic "real_server" {
      for_each = local.reals
      labels   = [real_server.value]
      content { weight = 1 + real_server.key % 3 }
    }
  }
}
