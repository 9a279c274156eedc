package config

import (
	"directord/internal/privdir"
	"directord/internal/proc"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Defaults documented in the README's config reference.
const (
	DefaultStatusSocket = "/run/directord/directord.sock"
	DefaultDriftCheck   = 60 * time.Second
)

// resolver turns raw blocks into the model, collecting every diagnostic.
type resolver struct {
	diags hcl.Diagnostics
	// host, when set, also checks the configuration against this host:
	// the programs it names and script_user (Load does; Parse, which
	// reads nothing from the host, does not).
	host bool
}

func (r *resolver) errAt(rng hcl.Range, format string, args ...any) {
	rng2 := rng
	r.diags = append(r.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf(format, args...),
		Subject:  &rng2,
	})
}

func (r *resolver) warnAt(rng hcl.Range, format string, args ...any) {
	rng2 := rng
	r.diags = append(r.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  fmt.Sprintf(format, args...),
		Subject:  &rng2,
	})
}

// blk locates attributes of one block for diagnostics.
type blk struct {
	r    *resolver
	body hcl.Body
	def  hcl.Range
	// attrs, when not nil, are the block's attributes as decoded.
	attrs hcl.Attributes
}

func (r *resolver) block(body hcl.Body, def hcl.Range) blk { return blk{r: r, body: body, def: def} }

// decoded is block for a body whose attributes the decoder kept: finding
// one is then a map lookup, not a pass over the body (a dynamic block's
// body, as every body is, answers only by decoding itself again).
func (r *resolver) decoded(body hcl.Body, attrs hcl.Attributes, def hcl.Range) blk {
	return blk{r: r, body: body, def: def, attrs: attrs}
}

// attr is the expression of attribute name as written, nil when absent.
func (b blk) attr(name string) hcl.Expression {
	if b.attrs != nil {
		if a := b.attrs[name]; a != nil {
			return a.Expr
		}
		return nil
	}
	if sb, ok := b.body.(*hclsyntax.Body); ok {
		if a := sb.Attributes[name]; a != nil {
			return a.Expr
		}
		return nil
	}
	// A body a dynamic block made: ask it (slower, and rare).
	c, _, _ := b.body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	if c == nil || c.Attributes[name] == nil {
		return nil
	}
	return c.Attributes[name].Expr
}

// where is the range of the attribute's value, or of the block header when
// the attribute is absent.
func (b blk) where(name string) hcl.Range {
	if e := b.attr(name); e != nil {
		return e.Range()
	}
	return b.def
}

// elem is the range of element i of a list attribute written as a literal
// list, so an error can point at the one bad element.
func (b blk) elem(name string, i int) hcl.Range {
	if t, ok := b.attr(name).(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return b.where(name)
}

func (b blk) errorf(name, format string, args ...any) { b.r.errAt(b.where(name), format, args...) }

func (b blk) warnf(name, format string, args ...any) { b.r.warnAt(b.where(name), format, args...) }

// required reports whether a required attribute is usable. When it was
// written but could not be decoded, gohcl already said so: no second
// diagnostic.
func (b blk) required(name string, set bool) bool {
	if set {
		return true
	}
	if b.attr(name) == nil {
		b.r.errAt(b.def, "missing required attribute %q", name)
	}
	return false
}

func (b blk) intIn(name string, p *int, def, lo, hi int) int {
	if p == nil {
		return def
	}
	if *p < lo || *p > hi {
		b.errorf(name, "%s must be between %d and %d, not %d", name, lo, hi, *p)
		return def
	}
	return *p
}

func (b blk) duration(name string, p *string, def time.Duration) time.Duration {
	if p == nil {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(*p))
	if err != nil {
		b.errorf(name, "%s: %q is not a duration (write it like \"500ms\" or \"2s\")", name, *p)
		return def
	}
	if d < 0 {
		b.errorf(name, "%s must not be negative", name)
		return def
	}
	return d
}

// seconds is a duration the kernel takes in whole seconds.
func (b blk) seconds(name string, p *string, def time.Duration) time.Duration {
	d := b.duration(name, p, def)
	if d%time.Second != 0 {
		b.errorf(name, "%s must be a whole number of seconds, not %s", name, d)
		return def
	}
	if d/time.Second > 1<<31 {
		b.errorf(name, "%s is too large", name)
		return def
	}
	return d
}

func (b blk) enum(name string, p *string, def string, allowed ...string) string {
	if p == nil {
		return def
	}
	for _, a := range allowed {
		if *p == a {
			return a
		}
	}
	b.errorf(name, "%s must be one of %s, not %q", name, strings.Join(quoteAll(allowed), ", "), *p)
	return def
}

func (b blk) addr(name string, s string, rng hcl.Range) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		b.r.errAt(rng, "%s: %q is not an IP address", name, s)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (b blk) optAddr(name string, p *string) netip.Addr {
	if p == nil {
		return netip.Addr{}
	}
	a, _ := b.addr(name, *p, b.where(name))
	return a
}

func (b blk) port(name string, p *int) uint16 {
	if p == nil {
		return 0
	}
	return uint16(b.intIn(name, p, 0, 1, 65535))
}

// argv checks a command written as a list: no shell is involved, so the
// program must be the first element.
func (b blk) argv(name string, p *[]string) []string {
	if p == nil {
		return nil
	}
	if len(*p) == 0 || strings.TrimSpace((*p)[0]) == "" {
		b.errorf(name, "%s must be a non-empty list: the program, then its arguments", name)
		return nil
	}
	if b.r.host {
		// The daemon runs it as root (or script_user): a program that
		// another user can change would run their code.
		switch err := proc.CheckScript((*p)[0]); {
		case errors.Is(err, fs.ErrNotExist):
			// keepalived too starts without it; it fails until it exists.
			b.r.warnAt(b.where(name), "%s: %s does not exist on this host", name, (*p)[0])
		case err != nil:
			b.errorf(name, "%s: %v", name, err)
		}
	}
	return append([]string(nil), (*p)...)
}

func (b blk) ifname(name, s string) string {
	if s == "" || len(s) > 15 || strings.ContainsAny(s, "/ \t:") {
		b.errorf(name, "%q is not a valid interface name", s)
	}
	return s
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// file resolves raw; its virtual servers are resolved already when vss
// is not nil (streamFile does as it parses them).
func (r *resolver) file(raw *rawFile, vss []VirtualServer) *Config {
	cfg := &Config{
		Director:       r.director(raw.Director),
		Instances:      []VRRPInstance{},
		SyncGroups:     []SyncGroup{},
		VirtualServers: vss,
	}
	for _, ri := range raw.Instances {
		cfg.Instances = append(cfg.Instances, r.instance(ri))
	}
	r.crossInstances(raw.Instances, cfg.Instances)
	cfg.SyncGroups = r.syncGroups(raw.SyncGroups, cfg.Instances)
	if vss == nil {
		cfg.VirtualServers = make([]VirtualServer, 0, len(raw.VirtualServers))
		for _, rv := range raw.VirtualServers {
			cfg.VirtualServers = append(cfg.VirtualServers, r.virtualServer(rv))
		}
	}
	r.crossVirtualServers(raw.VirtualServers, cfg.VirtualServers)
	r.throughVIPMarks(raw, cfg)
	cfg.IPVS = r.ipvs(raw.IPVS, cfg.Instances)
	cfg.BGP = r.bgp(raw.BGP, cfg.Director)
	r.crossBGP(raw.VirtualServers, raw.Instances, cfg)
	return cfg
}

func (r *resolver) director(rd *rawDirector) Director {
	host, _ := os.Hostname()
	d := Director{
		RouterID:     host,
		StatusSocket: DefaultStatusSocket,
		LogFormat:    "text",
		LogLevel:     "info",
	}
	d.ThroughVIPMarks, _ = ParseMarkRange(DefaultThroughVIPMarks)
	if rd == nil {
		return d
	}
	b := r.block(rd.Body, rd.DefRange)
	if rd.VIPMarks != nil {
		m, err := ParseMarkRange(*rd.VIPMarks)
		if err != nil {
			b.errorf("through_vip_marks", "through_vip_marks: %v", err)
			m = MarkRange{} // nothing is allocated from it
		}
		d.ThroughVIPMarks = m
	}
	d.RouterID = deref(rd.RouterID, host)
	if rd.StatusSocket != nil {
		d.StatusSocket = *rd.StatusSocket
		if !filepath.IsAbs(d.StatusSocket) {
			b.errorf("status_socket", "status_socket must be an absolute path")
		}
	}
	if rd.MetricsListen != nil {
		d.MetricsListen = *rd.MetricsListen
		if _, port, err := net.SplitHostPort(d.MetricsListen); err != nil || port == "" {
			b.errorf("metrics_listen", "metrics_listen must be host:port (\":9110\" listens on every address), not %q", d.MetricsListen)
		}
	}
	if rd.ScriptUser != nil {
		d.ScriptUser = *rd.ScriptUser
		if d.ScriptUser == "" {
			b.errorf("script_user", "script_user must name a user")
		} else if r.host {
			if _, err := proc.LookupUser(d.ScriptUser); err != nil {
				b.errorf("script_user", "script_user %q: %v", d.ScriptUser, err)
			}
		}
	}
	if rd.MaintDir != nil {
		d.MaintenanceDir = b.maintenanceDir(*rd.MaintDir)
	}
	d.LogFormat = b.enum("log_format", rd.LogFormat, "text", "text", "json")
	d.LogLevel = b.enum("log_level", rd.LogLevel, "info", "debug", "info", "warn", "error")
	return d
}

// maintenanceDir checks maintenance_dir: the daemon drains reals on what
// it finds there, so a directory another user can write to would let
// that user drain them. A missing one is a warning: nothing is drained
// until it exists.
func (b blk) maintenanceDir(dir string) string {
	if !filepath.IsAbs(dir) {
		b.errorf("maintenance_dir", "maintenance_dir must be an absolute path")
		return ""
	}
	dir = filepath.Clean(dir)
	if b.r.host {
		switch err := privdir.CheckPath(dir); {
		case errors.Is(err, fs.ErrNotExist):
			b.r.warnAt(b.where("maintenance_dir"), "maintenance_dir: %s does not exist on this host", dir)
		case err != nil:
			b.errorf("maintenance_dir", "maintenance_dir: %v", err)
		}
	}
	return dir
}
