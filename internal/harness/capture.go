package harness

import (
	"bufio"
	"context"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"directord/internal/labnet"
)

// Frame is one packet tcpdump saw, with the kernel's capture timestamp.
type Frame struct {
	At     time.Time
	SrcMAC string
	DstMAC string
	// ARP: a gratuitous one has Sender == Target.
	ARP    bool
	Op     string // "Request" or "Reply"
	Sender netip.Addr
	Target netip.Addr
	// VRRP
	// NA is an ICMPv6 neighbour advertisement for Target.
	NA bool
	// VRRP
	VRRP     bool
	Src, Dst netip.Addr
	Version  int
	VRID     int
	Priority int
	// TTL is the IPv4 TTL or IPv6 hop limit of a VRRP packet. tcpdump
	// prints it only when it is not 255 (the value RFC 9568 requires).
	TTL  int
	Line string
}

// Gratuitous reports a gratuitous ARP for addr.
func (f Frame) Gratuitous(addr netip.Addr) bool {
	return f.ARP && f.Sender == addr && f.Target == addr
}

// Capture is a running tcpdump in a namespace.
type Capture struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	frames []Frame
	notify chan struct{}
}

// Tcpdump starts `tcpdump -e -n -tt` on ifname inside ns, with a BPF
// filter such as "arp or ip proto 112", and returns once it listens.
func Tcpdump(tb testing.TB, ns *labnet.NS, ifname, filter string) *Capture {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"-i", ifname, "-e", "-n", "-tt", "-l", "--immediate-mode", "--time-stamp-precision=nano"}
	args = append(args, strings.Fields(filter)...)
	cmd := ns.Command(ctx, "tcpdump", args...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("tcpdump: %v", err)
	}
	c := &Capture{cancel: cancel, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(listening) })
			}
		}
		once.Do(func() { close(listening) })
	}()
	go func() {
		defer close(c.done)
		c.read(stdout)
		_ = cmd.Wait()
	}()
	select {
	case <-listening:
	case <-time.After(5 * time.Second):
		tb.Fatal("tcpdump did not start listening")
	}
	// tcpdump says "listening" just before the socket is attached.
	time.Sleep(50 * time.Millisecond)
	tb.Cleanup(c.Stop)
	return c
}

var (
	reHead = regexp.MustCompile(`^(\d+)\.(\d+) (\S+) > (\S+), ethertype (\S+)`)
	reARP  = regexp.MustCompile(`: (Request|Reply) (?:who-has )?(\S+) (?:\(\S+\) )?(?:tell|is-at) (\S+?),`)
	reVRRP = regexp.MustCompile(`: (\S+) > (\S+): VRRPv(\d), Advertisement, (?:\(ttl (\d+)\), )?vrid (\d+), prio (\d+)`)
	reNA   = regexp.MustCompile(`: (\S+) > (\S+): ICMP6, neighbor advertisement, tgt is ([^,\s]+)`)
)

func (c *Capture) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f, ok := parseFrame(sc.Text())
		if !ok {
			continue
		}
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
}

func parseFrame(line string) (Frame, bool) {
	m := reHead.FindStringSubmatch(line)
	if m == nil {
		return Frame{}, false
	}
	sec, _ := strconv.ParseInt(m[1], 10, 64)
	frac := (m[2] + "000000000")[:9]
	nsec, _ := strconv.ParseInt(frac, 10, 64)
	f := Frame{At: time.Unix(sec, nsec), SrcMAC: m[3], DstMAC: m[4], Line: line}
	if a := reARP.FindStringSubmatch(line); a != nil && m[5] == "ARP" {
		f.ARP, f.Op = true, a[1]
		if a[1] == "Request" {
			f.Target, _ = netip.ParseAddr(a[2])
			f.Sender, _ = netip.ParseAddr(a[3])
		} else {
			f.Sender, _ = netip.ParseAddr(a[2])
		}
		return f, true
	}
	if n := reNA.FindStringSubmatch(line); n != nil {
		f.NA = true
		f.Src, _ = netip.ParseAddr(n[1])
		f.Dst, _ = netip.ParseAddr(strings.TrimSuffix(n[2], ":"))
		f.Target, _ = netip.ParseAddr(n[3])
		return f, true
	}
	if v := reVRRP.FindStringSubmatch(line); v != nil {
		f.VRRP = true
		f.Src, _ = netip.ParseAddr(v[1])
		f.Dst, _ = netip.ParseAddr(strings.TrimSuffix(v[2], ":"))
		f.Version, _ = strconv.Atoi(v[3])
		f.TTL = 255
		if v[4] != "" {
			f.TTL, _ = strconv.Atoi(v[4])
		}
		f.VRID, _ = strconv.Atoi(v[5])
		f.Priority, _ = strconv.Atoi(v[6])
		return f, true
	}
	return f, true
}

// Frames returns what was captured so far.
func (c *Capture) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// WaitFor waits for a frame after `after` that pred accepts.
func (c *Capture) WaitFor(after time.Time, timeout time.Duration, pred func(Frame) bool) (Frame, bool) {
	deadline := time.After(timeout)
	for {
		for _, f := range c.Frames() {
			if f.At.After(after) && pred(f) {
				return f, true
			}
		}
		select {
		case <-c.notify:
		case <-deadline:
			return Frame{}, false
		case <-c.done:
			return Frame{}, false
		}
	}
}

// Stop ends the capture.
func (c *Capture) Stop() {
	c.cancel()
	<-c.done
}
