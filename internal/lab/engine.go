package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"directord/internal/daemon"
)

// Event is something the lab saw happen.
type Event struct {
	At   time.Time
	Text string
}

// Engine runs the lab: the topology, a directord per director, a client
// sending requests to the VIP, and a watcher that turns what the
// directors report into events.
type Engine struct {
	Lab       *Lab
	Directors []*Director
	Client    *Client
	// Client6 sends the same requests to the IPv6 VIP in the dual-stack
	// layout; nil otherwise.
	Client6  *Client
	Dir      string
	Settings Settings
	Started  time.Time

	reals  []RealSpec
	spare  RealSpec
	cancel context.CancelFunc

	mu     sync.Mutex
	events []Event
	docs   map[string]daemon.StatusDoc
	seen   map[string]int       // transitions already reported, per director
	runs   map[string]time.Time // start of the daemon those counts are of
	health map[string]bool
}

// Options choose the lab's layout.
type Options struct {
	// IPv6 adds the dual-stack layout's IPv6 VIP beside the seed's IPv4
	// one, over the same real servers.
	IPv6 bool
}

// StartEngine builds the seed's lab with configs in dir and waits until
// the pair is up: a master, every real weighted, the clients running.
// clientTimeout bounds one request of the lab's clients. A failover
// fails requests however long they may take (a SYN to a dead master is
// next retried after a second); shorter, a request that met a stall of
// the one-CPU guest failed too: the first IPv6 request, which waits for
// neighbour discovery on the client, the director and the real, timed
// out at 300 ms in a loaded CI run and failed the scripted lab.
const clientTimeout = time.Second

func StartEngine(bin, dir string, o Options) (*Engine, error) {
	dirs, reals, spare := Seed()
	if o.IPv6 {
		dirs, reals = DualStack(dirs, reals)
		_, sp := DualStack(nil, []RealSpec{spare})
		spare = sp[0]
	}
	l, err := Build(bin, "lab", dirs, reals)
	if err != nil {
		return nil, err
	}
	settings := LabSettings
	if o.IPv6 {
		settings = DualStackSettings
	}
	e := &Engine{Lab: l, Dir: dir, Settings: settings, reals: reals, spare: spare,
		docs: map[string]daemon.StatusDoc{}, seen: map[string]int{}, runs: map[string]time.Time{},
		health: map[string]bool{}, Started: time.Now()}
	if err := e.start(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) start() error {
	for i, h := range []string{"lb1", "lb2"} {
		d, err := e.Lab.NewDirector(h, 150-50*i, e.Dir, e.Settings, e.reals)
		if err != nil {
			return err
		}
		e.Directors = append(e.Directors, d)
		if err := d.Start(); err != nil {
			return err
		}
	}
	e.logf("started lb1 (priority 150) and lb2 (priority 100); configs in %s", e.Dir)
	if err := waitUntil(10*time.Second, func() bool { return e.Master() != nil }); err != nil {
		return errors.New("no director became master")
	}
	if err := waitUntil(10*time.Second, func() bool {
		w := e.Weights(e.Master())
		for _, r := range e.reals {
			if w[r.Addr.String()] != r.Weight || (r.Addr6.IsValid() && w[r.Addr6.String()] != r.Weight) {
				return false
			}
		}
		return true
	}); err != nil {
		m := e.Master()
		return fmt.Errorf("the real servers never got their weights: the master's table has %v; its log:\n%s", e.Weights(m), m.Log())
	}
	// The weights above are the checks' initial state. Traffic starts
	// once both directors have checked every real for real: a CI run
	// sent its first requests while lb2 was still starting in the
	// one-CPU guest, and the master's first probes timed out together.
	if err := waitUntil(10*time.Second, func() bool { return e.checkedAll(e.Directors...) }); err != nil {
		return errors.New("the directors never checked every real server")
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.Client = NewClient(e.Lab.Client, "http://"+VIP.String()+"/", 100*time.Millisecond, clientTimeout)
	go e.Client.Run(ctx)
	if dualStack(e.reals) {
		e.Client6 = NewClient(e.Lab.Client, "http://["+VIP6.String()+"]/", 100*time.Millisecond, clientTimeout)
		go e.Client6.Run(ctx)
	}
	go e.watch(ctx)
	return nil
}

// Close stops everything and removes every namespace.
func (e *Engine) Close() error {
	if e.cancel != nil {
		e.cancel()
	}
	for _, d := range e.Directors {
		d.Kill()
	}
	return e.Lab.Close()
}

func (e *Engine) logf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, Event{At: time.Now(), Text: fmt.Sprintf(format, args...)})
}

// Events returns the events so far.
func (e *Engine) Events() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// watch polls the directors' status and reports what changed.
func (e *Engine) watch(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, d := range e.Directors {
			e.poll(d)
		}
	}
}

func (e *Engine) poll(d *Director) {
	name := d.Host.Name
	doc, err := d.Status()
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.docs[name] = doc
	if len(doc.VRRP.Instances) == 0 {
		return
	}
	in := doc.VRRP.Instances[0]
	// A restarted daemon starts its list again.
	if !doc.Started.Equal(e.runs[name]) {
		e.runs[name], e.seen[name] = doc.Started, 0
	}
	for _, tr := range in.Transitions[e.seen[name]:] {
		e.events = append(e.events, Event{At: tr.At, Text: fmt.Sprintf("%s %s → %s (%s)", name, tr.From, tr.To, tr.Reason)})
	}
	e.seen[name] = len(in.Transitions)
	if in.State != "MASTER" {
		return
	}
	for _, rs := range doc.RealServers {
		key := rs.RealServer
		if up, known := e.health[key]; known && up == rs.Up {
			continue
		}
		if _, known := e.health[key]; known || !rs.Up {
			state, why := "UP", ""
			if !rs.Up {
				state = "DOWN"
			}
			if rs.Last != nil {
				why = " (" + rs.Last.Reason + ")"
			}
			e.events = append(e.events, Event{At: time.Now(), Text: fmt.Sprintf("%s %s %s%s, seen by %s", realName(e.Lab, rs.RealServer), rs.RealServer, state, why, name)})
		}
		e.health[key] = rs.Up
	}
}

func realName(l *Lab, endpoint string) string {
	addr := endpointAddr(endpoint)
	for _, r := range l.Reals {
		if r.Addr == addr || (r.Addr6.IsValid() && r.Addr6 == addr) {
			return r.Name
		}
	}
	return "?"
}

// endpointAddr is the address of "addr:port" or "[addr]:port".
func endpointAddr(endpoint string) netip.Addr {
	if ap, err := netip.ParseAddrPort(endpoint); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(endpoint)
	return a
}

// Master is the director in MASTER state, or nil.
func (e *Engine) Master() *Director {
	for _, d := range e.Directors {
		if d.Running() && d.State("web") == "MASTER" {
			return d
		}
	}
	return nil
}

// checkedAll reports whether each director has a passing result of its
// own for every real server's check.
func (e *Engine) checkedAll(ds ...*Director) bool {
	for _, d := range ds {
		doc, err := d.Status()
		if err != nil || len(doc.RealServers) == 0 {
			return false
		}
		for _, rs := range doc.RealServers {
			if rs.Checks == 0 || rs.Last == nil || !rs.Last.Up {
				return false
			}
		}
	}
	return true
}

// Weights reads the weights in d's kernel table, by real address.
func (e *Engine) Weights(d *Director) map[string]int {
	w := map[string]int{}
	if d == nil {
		return w
	}
	doc, err := d.Status()
	if err != nil || doc.IPVS == nil {
		return w
	}
	for _, s := range doc.IPVS.Table {
		for _, dst := range s.Dests {
			w[endpointAddr(dst.Name).String()] = int(dst.Weight)
		}
	}
	return w
}

// KillMaster is kill -9 of the master's directord.
func (e *Engine) KillMaster() (*Director, error) {
	m := e.Master()
	if m == nil {
		return nil, errors.New("no master to kill")
	}
	m.Kill()
	e.logf("killed directord on %s (kill -9), the master", m.Host.Name)
	return m, nil
}

// Restore starts every director that is not running.
func (e *Engine) Restore() error {
	for _, d := range e.Directors {
		if !d.Running() {
			if err := d.Start(); err != nil {
				return err
			}
			e.logf("restarted directord on %s", d.Host.Name)
		}
	}
	return nil
}

// ToggleReal fails a real server (stops its HTTP server) or restores it.
func (e *Engine) ToggleReal(i int) error {
	if i < 0 || i >= len(e.Lab.Reals) {
		return fmt.Errorf("no real server %d", i+1)
	}
	r := e.Lab.Reals[i]
	if r.Serving() {
		r.StopHTTP()
		e.logf("failed %s (%s): its HTTP server is stopped", r.Name, r.Addr)
		return nil
	}
	if err := r.StartHTTP(); err != nil {
		return err
	}
	e.logf("restored %s (%s): its HTTP server runs again", r.Name, r.Addr)
	return nil
}

// Reload makes every running director reload its (edited) config.
func (e *Engine) Reload() error {
	var errs []error
	for _, d := range e.Directors {
		if !d.Running() {
			continue
		}
		if _, err := d.StatusClient.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Host.Name, err))
			e.logf("reload of %s FAILED, it keeps its previous config: %v", d.Host.Name, firstLine(err.Error()))
			continue
		}
		e.logf("%s reloaded %s", d.Host.Name, filepath.Base(d.Config))
	}
	return errors.Join(errs...)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func waitUntil(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// ConfigPaths are the directors' config files.
func (e *Engine) ConfigPaths() []string {
	var out []string
	for _, d := range e.Directors {
		out = append(out, d.Config)
	}
	return out
}

// Leftovers counts what a closed lab left behind: namespaces named with
// prefix, and processes running a config from dir.
func Leftovers(prefix, dir string) (namespaces, processes int) {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			namespaces++
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir+"/") {
			processes++
		}
	}
	return namespaces, processes
}
