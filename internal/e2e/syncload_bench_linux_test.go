package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"directord/internal/harness"
	"directord/internal/lab"
	"directord/internal/labnet"
	"directord/internal/uml"
	"directord/internal/vmtest"
)

// syncLoadRate and syncLoadFor are the load of BenchmarkSyncDaemonLoad:
// new connections a second, for how long.
const (
	syncLoadRate    = 10000
	syncLoadFor     = 10 * time.Second
	syncLoadTimeout = 60 * time.Second // ipvs tcp_timeout, for ESTABLISHED
)

// BenchmarkSyncDaemonLoad measures what connection sync costs at 10,000
// new connections a second, in one guest: a client opens connections
// (a SYN, an ACK and a PSH each: IPVS syncs a connection when its third
// packet arrives, and every sync_threshold period after) through the
// master to a real that drops them,
// first with no sync daemon, then with both daemons on both directors.
// It reports the CPU of the kernel's sync threads, the guest's extra CPU,
// the bytes and packets on the wire, and how many connections reached
// the backup's table.
//
//	./scripts/bench.sh sync
func BenchmarkSyncDaemonLoad(b *testing.B) {
	bin, err := harness.BuildDirectord()
	if err != nil {
		b.Fatal(err)
	}
	if !uml.InGuest() {
		// Guest CPU accounting in UML is tick-sampled and puts kernel
		// work on whoever runs: the real cost is the host's CPU for the
		// whole guest, sampled here when the guest marks a phase.
		marks := &cpuMarks{out: os.Stdout, at: map[string]time.Duration{}}
		vmtest.RunInGuest(b, vmtest.WithEnv(map[string]string{harness.EnvBinary: bin, "SYNCLOAD_RATE": os.Getenv("SYNCLOAD_RATE")}),
			vmtest.WithOutput(marks), vmtest.WithMem("1G"))
		off, on := marks.span("off"), marks.span("on")
		window := syncLoadFor + 3*time.Second
		fmt.Printf("host CPU of the whole guest over each %s phase: %.1f%% of a core without sync, %.1f%% with: sync adds %.1f%% (%.2f µs per connection at %d/s)\n",
			window, 100*off.Seconds()/window.Seconds(), 100*on.Seconds()/window.Seconds(), 100*(on-off).Seconds()/window.Seconds(),
			float64((on-off).Microseconds())/(float64(syncLoadRate)*syncLoadFor.Seconds()), syncLoadRate)
		b.ReportMetric(100*(on-off).Seconds()/window.Seconds(), "%host-cpu-sync")
		return
	}
	hosts, dir := syncLoadRig(b, bin)
	lb1 := lab.StatusClient{Socket: filepath.Join(dir, "lb1.sock")}
	waitFor(b, "lb1 master", 10*time.Second, func() bool { return lb1.State("web") == "MASTER" })

	off := syncLoadPhase(b, hosts, "off", []string{"192.168.11.3", "192.168.11.4"})
	for _, d := range []struct {
		name string
		prio int
	}{{"lb1", 150}, {"lb2", 100}} {
		if err := os.WriteFile(filepath.Join(dir, d.name+".hcl"), []byte(syncLoadConfig(d.name, d.prio, filepath.Join(dir, d.name+".sock"), true)), 0o644); err != nil {
			b.Fatal(err)
		}
		if _, err := (lab.StatusClient{Socket: filepath.Join(dir, d.name+".sock")}).Reload(); err != nil {
			b.Fatal(err)
		}
	}
	// The first phase's connections expire (tcp_timeout) before the
	// second starts, so both hash into an equally empty table.
	time.Sleep(syncLoadTimeout + 2*time.Second)
	on := syncLoadPhase(b, hosts, "on", []string{"192.168.11.5", "192.168.11.6"})

	secs := syncLoadFor.Seconds()
	wire := on.rxBytes - off.rxBytes
	fmt.Printf("\nconnection sync, %s of new connections, without and with both sync daemons (UML guest)\n", syncLoadFor)
	fmt.Printf("  achieved: %.0f connections/s without sync, %.0f with\n", float64(off.conns)/secs, float64(on.conns)/secs)
	fmt.Printf("  the kernel's sync threads (guest accounting, 10 ms ticks): master %.1f%% of a CPU, backup %.1f%%\n",
		100*on.master.Seconds()/secs, 100*on.backup.Seconds()/secs)
	fmt.Printf("  on the wire to the backup: %.0f kB/s in %.0f packets/s (%.1f bytes per connection)\n",
		float64(wire)/secs/1e3, float64(on.rxPackets-off.rxPackets)/secs, float64(wire)/float64(on.conns))
	fmt.Printf("  backup: %d sync messages taken, %d dropped with its receive buffer full; its table holds %d of %d connections\n\n",
		on.udpIn, on.udpDrops, on.backupConns, on.conns)
	b.ReportMetric(float64(on.conns)/secs, "conns/s")
	b.ReportMetric(float64(wire)/secs/1e3, "kB/s-sync")
	if on.backupConns < on.conns*99/100 {
		b.Errorf("the backup's table holds %d of %d connections", on.backupConns, on.conns)
	}
}

// syncLoadRig builds the client, lb1 and lb2 on a bridge, each director
// with a dummy real and directord running without sync. Everything is
// removed when b ends.
func syncLoadRig(b *testing.B, bin string) (hosts map[string]*labnet.NS, dir string) {
	b.Helper()
	n, err := labnet.New("sl")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	br, err := n.AddBridge("br0")
	if err != nil {
		b.Fatal(err)
	}
	hosts = map[string]*labnet.NS{}
	for name, addr := range map[string]string{"client": "192.168.11.2/24", "lb1": "192.168.11.11/24", "lb2": "192.168.11.10/24"} {
		ns, err := n.AddNS(name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.Connect(ns, br, "eth0", netip.MustParsePrefix(addr)); err != nil {
			b.Fatal(err)
		}
		hosts[name] = ns
	}
	for i := 3; i <= 6; i++ {
		if out, err := hosts["client"].Run("ip", "addr", "add", fmt.Sprintf("192.168.11.%d/24", i), "dev", "eth0"); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
	dir = b.TempDir()
	for _, d := range []struct {
		name string
		prio int
	}{{"lb1", 150}, {"lb2", 100}} {
		ns := hosts[d.name]
		// The real is behind a dummy interface: forwarded packets vanish
		// at no cost, so the load is IPVS and the sync, not a server.
		if out, err := ns.Run("sh", "-c", "ip link add dummy0 type dummy && ip link set dummy0 up && "+
			"ip route add 10.99.0.0/24 dev dummy0 && ip neigh add 10.99.0.1 lladdr 02:00:00:00:00:01 dev dummy0 nud permanent"); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		cfg := filepath.Join(dir, d.name+".hcl")
		if err := os.WriteFile(cfg, []byte(syncLoadConfig(d.name, d.prio, filepath.Join(dir, d.name+".sock"), false)), 0o644); err != nil {
			b.Fatal(err)
		}
		p := &lab.Process{Name: d.name, NS: ns, Argv: []string{bin, "run", "--config", cfg}}
		if err := p.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Kill)
		if err := lab.WaitReady(p, lab.StatusClient{Socket: filepath.Join(dir, d.name+".sock")}, 10*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	return hosts, dir
}

func syncLoadConfig(name string, prio int, socket string, sync bool) string {
	s := fmt.Sprintf(`director {
  router_id = %q
  status_socket = %q
}
vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  priority = %d
  virtual_ips = ["192.168.11.100/24"]
}
virtual_server "web" {
  address = "192.168.11.100"
  port = 80
  scheduler = "rr"
  real_server "10.99.0.1" {}
}
ipvs {
  tcp_timeout = %q
`, name, socket, prio, syncLoadTimeout)
	if sync {
		s += "  sync_daemon { interface = \"eth0\" }\n"
	}
	return s + "}\n"
}

// loadFigures are one phase's counters.
type loadFigures struct {
	conns, backupConns int
	master, backup     time.Duration // the kernel's sync threads
	rxBytes, rxPackets int64         // received by the backup's eth0
	udpIn, udpDrops    int64         // the backup's UDP datagrams delivered and dropped (receive buffer full)
}

// syncLoadPhase generates the load from srcs and measures it.
func syncLoadPhase(b *testing.B, hosts map[string]*labnet.NS, label string, srcs []string) loadFigures {
	b.Helper()
	m0, b0 := threadCPU("ipvs-m"), threadCPU("ipvs-b")
	rx0, pk0 := linkCounter(b, hosts["lb2"], "rx_bytes"), linkCounter(b, hosts["lb2"], "rx_packets")
	before := backupTable(b, hosts["lb2"])
	in0, drop0 := udpCounter(b, hosts["lb2"], "InDatagrams"), udpCounter(b, hosts["lb2"], "RcvbufErrors")
	rate := syncLoadRate
	if v, err := strconv.Atoi(os.Getenv("SYNCLOAD_RATE")); err == nil {
		rate = v
	}
	fmt.Printf("%s %s-start\n", cpuMark, label)
	sent := generate(b, hosts["client"], srcs, rate, syncLoadFor)
	// The sync buffer goes out when full or two seconds old.
	time.Sleep(3 * time.Second)
	fmt.Printf("%s %s-end\n", cpuMark, label)
	f := loadFigures{conns: sent}
	f.master, f.backup = threadCPU("ipvs-m")-m0, threadCPU("ipvs-b")-b0
	f.rxBytes, f.rxPackets = linkCounter(b, hosts["lb2"], "rx_bytes")-rx0, linkCounter(b, hosts["lb2"], "rx_packets")-pk0
	f.backupConns = backupTable(b, hosts["lb2"]) - before
	f.udpIn, f.udpDrops = udpCounter(b, hosts["lb2"], "InDatagrams")-in0, udpCounter(b, hosts["lb2"], "RcvbufErrors")-drop0
	return f
}

// generate opens rate connections a second (a SYN, an ACK and a PSH
// each), spread over the source addresses, in one sendmmsg batch per
// source every 10 ms.
func generate(b *testing.B, client *labnet.NS, srcs []string, rate int, d time.Duration) int {
	b.Helper()
	var conns []*ipv4.PacketConn
	for _, src := range srcs {
		var c net.PacketConn
		if err := client.Do(func() error {
			var err error
			c, err = net.ListenPacket("ip4:tcp", src)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, ipv4.NewPacketConn(c))
	}
	vip := netip.MustParseAddr("192.168.11.100")
	dst := &net.IPAddr{IP: vip.AsSlice()}
	const tick = 10 * time.Millisecond
	perTick := rate * int(tick) / int(time.Second) / len(srcs) // flows per source and tick
	sent, port := 0, 1024
	batches := make([][]ipv4.Message, len(srcs))
	start := time.Now()
	for next := start; time.Since(start) < d; next = next.Add(tick) {
		time.Sleep(time.Until(next))
		if port+perTick > 65535 {
			b.Fatal("out of source ports: more source addresses needed")
		}
		for k, src := range srcs {
			a := netip.MustParseAddr(src)
			batches[k] = batches[k][:0]
			for p := port; p < port+perTick; p++ {
				for _, flags := range []byte{0x02, 0x10, 0x18} { // SYN, ACK, PSH|ACK
					batches[k] = append(batches[k], ipv4.Message{Buffers: [][]byte{tcpSegment(a, vip, uint16(p), flags)}, Addr: dst})
				}
			}
			for msgs := batches[k]; len(msgs) > 0; {
				n, err := conns[k].WriteBatch(msgs, 0)
				if err != nil {
					b.Fatal(err)
				}
				msgs = msgs[n:]
			}
		}
		sent += perTick * len(srcs)
		port += perTick
	}
	return sent
}

// tcpSegment is a 20-byte TCP header from src:port to dst:80.
func tcpSegment(src, dst netip.Addr, port uint16, flags byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], port)
	binary.BigEndian.PutUint16(h[2:], 80)
	binary.BigEndian.PutUint32(h[4:], 1000+uint32(flags&0x10)/0x10) // seq: the SYN's, plus one after it
	if flags&0x10 != 0 {
		binary.BigEndian.PutUint32(h[8:], 1)
	}
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	var sum uint32
	for _, a := range [][]byte{src.AsSlice(), dst.AsSlice(), {0, 6, 0, 20}, h} {
		for i := 0; i < len(a); i += 2 {
			sum += uint32(a[i])<<8 | uint32(a[i+1])
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[16:], ^uint16(sum))
	return h
}

// cpuMark starts a console line that makes the host sample its CPU.
const cpuMark = "@@cpu"

// cpuMarks passes the guest console through and, at each cpuMark line,
// records the host CPU spent so far by the guest (every descendant
// process of this one: the UML kernel and its processes).
type cpuMarks struct {
	out  io.Writer
	part []byte
	at   map[string]time.Duration
}

func (m *cpuMarks) Write(p []byte) (int, error) {
	m.part = append(m.part, p...)
	for {
		i := bytes.IndexByte(m.part, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(m.part[:i], "\r"))
		m.part = m.part[i+1:]
		if label, ok := strings.CutPrefix(line, cpuMark+" "); ok {
			m.at[label] = descendantsCPU()
			continue
		}
		fmt.Fprintln(m.out, line)
	}
	return len(p), nil
}

// span is the CPU between label-start and label-end.
func (m *cpuMarks) span(label string) time.Duration {
	return m.at[label+"-end"] - m.at[label+"-start"]
}

// descendantsCPU sums user and system time of every process below this
// one.
func descendantsCPU() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	parent, ticks := map[int]int{}, map[int]int64{}
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		parent[pid], _ = strconv.Atoi(f[1])
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks[pid] = u + st
	}
	self := os.Getpid()
	var total int64
	for pid := range ticks {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == self {
				total += ticks[pid]
				break
			}
		}
	}
	return time.Duration(total) * time.Second / 100
}

// threadCPU sums the CPU of the kernel threads whose name starts with
// prefix (the sync daemons are ipvs-m:ID:N and ipvs-b:ID:N).
func threadCPU(prefix string) time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var ticks int64
	for _, d := range dirs {
		comm, err := os.ReadFile(d + "/comm")
		if err != nil || !strings.HasPrefix(string(comm), prefix) {
			continue
		}
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100
}

func linkCounter(b *testing.B, ns *labnet.NS, name string) int64 {
	out, err := ns.Run("cat", "/sys/class/net/eth0/statistics/"+name)
	if err != nil {
		b.Fatal(err)
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	return v
}

// udpCounter reads a Udp counter of /proc/net/snmp in ns.
func udpCounter(b *testing.B, ns *labnet.NS, name string) int64 {
	out, err := ns.Run("cat", "/proc/net/snmp")
	if err != nil {
		b.Fatal(err)
	}
	var head []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == name && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// backupTable counts the connections in the namespace's IPVS table.
func backupTable(b *testing.B, ns *labnet.NS) int {
	out, err := ns.Run("sh", "-c", "wc -l < /proc/net/ip_vs_conn")
	if err != nil {
		b.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return max(0, n-1) // the header
}
