#!/usr/bin/env bash
# Captures the IPv6 VRRPv3 adverts of Debian's keepalived that
# keepalived6.txt holds (run as root, with keepalived and tcpdump):
#   vrrp/testdata/keepalived6.sh > vrrp/testdata/keepalived6.txt
# keepalived runs in a namespace whose eth0 has a fixed MAC, so its
# link-local source is always fe80::ff:fe00:5101; tcpdump listens on the
# other end of the veth. The flow label is the kernel's automatic one (a
# hash of the flow): the codec does not read it.
set -euo pipefail

s=$$ ka=ka6cap-$$ obs=ka6obs-$$
dir=$(mktemp -d)
cleanup() {
  for n in "$ka" "$obs"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill -9
    ip netns del "$n" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$ka"
ip netns add "$obs"
ip link add "kc$s" type veth peer name "ko$s"
ip link set "kc$s" netns "$ka"
ip link set "ko$s" netns "$obs"
ip -n "$ka" link set "kc$s" name eth0 address 02:00:00:00:51:01
ip -n "$obs" link set "ko$s" name eth0 address 02:00:00:00:51:02
for n in "$ka" "$obs"; do
  ip -n "$n" link set lo up
  ip -n "$n" link set eth0 up
done
ip -n "$ka" -6 addr add 2001:db8:53::1/64 dev eth0 nodad
ip -n "$obs" -6 addr add 2001:db8:53::2/64 dev eth0 nodad
# keepalived sends from the link-local address, once DAD is over.
for _ in $(seq 50); do
  ip -n "$ka" -6 addr show dev eth0 scope link | grep -q tentative || break
  sleep 0.1
done

cat >"$dir/ka.conf" <<'CONF'
global_defs {
  router_id ka6cap
}
vrrp_instance slow {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  version 3
  advert_int 1
  virtual_ipaddress {
    2001:db8:51::100/64
  }
}
vrrp_instance fast {
  state BACKUP
  interface eth0
  virtual_router_id 52
  priority 200
  version 3
  advert_int 0.1
  virtual_ipaddress {
    fe80::52/64
    2001:db8:52::100/64
  }
}
vrrp_instance uni {
  state BACKUP
  interface eth0
  virtual_router_id 53
  priority 100
  version 3
  advert_int 1
  unicast_src_ip 2001:db8:53::1
  unicast_peer {
    2001:db8:53::2
  }
  virtual_ipaddress {
    2001:db8:53::100/64
  }
}
CONF

ip netns exec "$obs" tcpdump -i eth0 -n -U -w "$dir/ka.pcap" 'ip6 proto 112' 2>/dev/null &
tcpdump_pid=$!
sleep 1
ip netns exec "$ka" keepalived --dont-fork --log-console --use-file "$dir/ka.conf" \
  --pid "$dir/k.pid" --vrrp_pid "$dir/v.pid" --checkers_pid "$dir/c.pid" >"$dir/ka.log" 2>&1 &
ka_pid=$!
# Every instance is master after its Master_Down_Interval (about 3.6 s at
# advert_int 1); SIGTERM then sends the priority 0 adverts.
sleep 6
kill -TERM "$ka_pid"
wait "$ka_pid" || true
sleep 1
kill "$tcpdump_pid"
wait "$tcpdump_pid" || true

version=$(keepalived --version 2>&1 | head -1)
cat <<HEAD
# IPv6 VRRPv3 packets sent by ${version}, captured by
# vrrp/testdata/keepalived6.sh (tcpdump -w in a network namespace, then
# tcpdump -x). One per line: a name, then the whole IPv6 packet in hex
# (fixed header, no extension headers, VRRP message). keepalived's
# link-local source is fe80::ff:fe00:5101 (MAC 02:00:00:00:51:01):
#   v6-slow:      vrid 51, priority 150, advert_int 1, VIP 2001:db8:51::100/64
#   v6-slow-stop: the same instance on SIGTERM (priority 0)
#   v6-fast:      vrid 52, priority 200, advert_int 0.1,
#                 VIPs fe80::52/64 and 2001:db8:52::100/64
#   v6-fast-stop: the same instance on SIGTERM
#   v6-unicast:   vrid 53, priority 100, advert_int 1, VIP 2001:db8:53::100/64,
#                 unicast 2001:db8:53::1 -> 2001:db8:53::2
HEAD
# The first packet of each (VRID, priority); the VRRP message starts at
# byte 40, so its VRID and priority are hex digits 83 to 86.
tcpdump -r "$dir/ka.pcap" -n -x 2>/dev/null |
  awk '/^[0-9]/ { if (h != "") print h; h = ""; next } { for (i = 2; i <= NF; i++) h = h $i } END { print h }' |
  awk '{
    k = substr($0, 83, 4)
    name["33" "96"] = "v6-slow"; name["33" "00"] = "v6-slow-stop"
    name["34" "c8"] = "v6-fast"; name["34" "00"] = "v6-fast-stop"
    name["35" "64"] = "v6-unicast"
    if ((k in name) && !(k in seen)) { seen[k] = 1; print name[k], $0 }
  }'
