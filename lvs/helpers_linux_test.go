package lvs_test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/vmtest"
	"directord/lvs"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

// countingKernel records every write, so tests can assert how many and
// which a change caused.
type countingKernel struct {
	lvs.Kernel
	mu  sync.Mutex
	ops []lvs.Op
}

func (c *countingKernel) Write(ops []lvs.Op) []error {
	c.mu.Lock()
	c.ops = append(c.ops, ops...)
	c.mu.Unlock()
	return c.Kernel.Write(ops)
}

func (c *countingKernel) take() []lvs.Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = nil
	return ops
}

func kinds(ops []lvs.Op) string {
	var s []string
	for _, o := range ops {
		s = append(s, o.Kind.String())
	}
	return strings.Join(s, ",")
}

// health is a switchboard of real servers' states, by address.
type health struct {
	mu   sync.Mutex
	down map[string]bool
}

// fn answers for a real by its check name, "vs/addr:port".
func (h *health) fn(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	addr := id[strings.LastIndex(id, "/")+1:]
	addr = addr[:strings.LastIndex(addr, ":")]
	return !h.down[addr]
}

func (h *health) set(addr string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == nil {
		h.down = map[string]bool{}
	}
	h.down[addr] = !up
}

// parse translates src as the daemon does.
func parse(t *testing.T, src string) lvs.Spec {
	t.Helper()
	cfg, err := config.Parse("t.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return daemon.IPVSSpec(cfg)
}

func ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ipvsadm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// listing is `ipvsadm -Ln`, the independent reader of the table.
func listing(t *testing.T) string { return ipvsadm(t, "-Ln") }

func mustMatch(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("ipvsadm -Ln does not match %s:\n%s", p, out)
		}
	}
}

type rig struct {
	k      *countingKernel
	r      *lvs.Reconciler
	h      *health
	cancel context.CancelFunc
}

// start runs a reconciler for src against the guest's table.
func start(t *testing.T, src string) *rig {
	t.Helper()
	k, err := lvs.OpenKernel()
	if err != nil {
		t.Fatal(err)
	}
	ck := &countingKernel{Kernel: k}
	h := &health{}
	r := lvs.New(ck, lvs.Options{Health: h.fn, RetryAfter: 100 * time.Millisecond})
	if err := r.Start(parse(t, src)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx)
	g := &rig{k: ck, r: r, h: h, cancel: cancel}
	t.Cleanup(func() { cancel(); k.Close() })
	return g
}

// flip changes a real's health and waits for the reconciler's pass.
func (g *rig) flip(t *testing.T, addr string, up bool) []lvs.Op {
	t.Helper()
	g.h.set(addr, up)
	awaitPass(t, g.r, g.r.HealthChanged)
	return g.k.take()
}

// awaitPass triggers a pass and waits until the loop has made it.
func awaitPass(tb testing.TB, r *lvs.Reconciler, trigger func()) {
	tb.Helper()
	st, _, err := r.Stats(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	trigger()
	deadline := time.Now().Add(5 * time.Second)
	for {
		now, _, err := r.Stats(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		if now.Passes > st.Passes {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("no pass after the trigger")
		}
		time.Sleep(time.Millisecond)
	}
}
