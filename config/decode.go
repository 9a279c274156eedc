package config

import (
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// decoder fills the raw blocks a large file has thousands of —
// virtual_server, real_server and health_check — by hand; gohcl decodes
// the others. gohcl derives a block's schema and field tags by reflection
// again for every block it decodes, and at 10,000 real servers that
// garbage was most of the time and a large part of the peak memory.
//
// The diagnostics stay gohcl's own: the schemas are the ones gohcl
// derives from the raw types' tags (so hcl reports an unknown attribute,
// a missing label or a repeated attribute exactly as before), and a value
// that is not a plain known value of the field's type goes through
// gohcl.DecodeExpression, which words the conversion errors.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
	// The schemas gohcl derives from rawVirtualServer, rawRealServer and
	// rawHealthCheck, derived once per file.
	vs, rs, hc *hcl.BodySchema
}

// decodeFile decodes body into raw: virtual_server blocks (and what they
// hold) by hand, the rest with gohcl.
func decodeFile(body hcl.Body, ctx *hcl.EvalContext, raw *rawFile) hcl.Diagnostics {
	d := newDecoder(ctx)
	content, rest, diags := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "virtual_server", LabelNames: []string{"name"}},
	}})
	d.diags = diags
	// The rest hides the virtual_server blocks from gohcl, but hcl
	// checks their labels again: report a wrong number once.
	for _, dg := range gohcl.DecodeBody(rest, ctx, raw) {
		if !repeated(dg, diags) {
			d.diags = append(d.diags, dg)
		}
	}
	for _, b := range content.Blocks {
		raw.VirtualServers = append(raw.VirtualServers, d.virtualServer(b))
	}
	return d.diags
}

// repeated reports whether diags already holds dg.
func repeated(dg *hcl.Diagnostic, diags hcl.Diagnostics) bool {
	for _, o := range diags {
		if o.Summary == dg.Summary && o.Subject != nil && dg.Subject != nil && *o.Subject == *dg.Subject {
			return true
		}
	}
	return false
}

func (d *decoder) virtualServer(b *hcl.Block) *rawVirtualServer {
	rv := &rawVirtualServer{Name: b.Labels[0], NameRange: b.LabelRanges[0], Body: b.Body, DefRange: b.DefRange}
	c, diags := b.Body.Content(d.vs)
	d.diags = append(d.diags, diags...)
	rv.attrs = c.Attributes
	for name, a := range c.Attributes {
		switch name {
		case "address":
			d.str(a.Expr, &rv.Address)
		case "port":
			d.num(a.Expr, &rv.Port)
		case "protocol":
			d.str(a.Expr, &rv.Protocol)
		case "fwmark":
			d.num(a.Expr, &rv.FWMark)
		case "family":
			d.str(a.Expr, &rv.Family)
		case "scheduler":
			d.str(a.Expr, &rv.Scheduler)
		case "scheduler_flags":
			d.value(a.Expr, &rv.SchedulerFlags)
		case "forwarding":
			d.str(a.Expr, &rv.Forwarding)
		case "persistence_timeout":
			d.str(a.Expr, &rv.PersistenceTimeout)
		case "persistence_netmask":
			d.str(a.Expr, &rv.PersistenceNetmask)
		case "on_failure":
			d.str(a.Expr, &rv.OnFailure)
		case "quorum":
			d.num(a.Expr, &rv.Quorum)
		case "quorum_up":
			d.value(a.Expr, &rv.QuorumUp)
		case "quorum_down":
			d.value(a.Expr, &rv.QuorumDown)
		case "hysteresis":
			d.num(a.Expr, &rv.Hysteresis)
		case "sorry_server":
			d.str(a.Expr, &rv.SorryServer)
		case "sorry_server_inhibit":
			d.value(a.Expr, &rv.SorryInhibit)
		case "sorry_server_forwarding":
			d.str(a.Expr, &rv.SorryForwarding)
		case "sorry_server_keep_reals":
			d.value(a.Expr, &rv.SorryKeepReals)
		case "announce":
			d.str(a.Expr, &rv.Announce)
		case "communities":
			d.value(a.Expr, &rv.Communities)
		case "med":
			d.num(a.Expr, &rv.MED)
		}
	}
	reals := 0
	for _, blk := range c.Blocks {
		if blk.Type == "real_server" {
			reals++
		}
	}
	if reals > 0 {
		rv.RealServers = make([]*rawRealServer, 0, reals)
	}
	for _, blk := range c.Blocks {
		switch blk.Type {
		case "health_check":
			rv.HealthChecks = append(rv.HealthChecks, d.healthCheck(blk))
		case "real_server":
			rv.RealServers = append(rv.RealServers, d.realServer(blk))
		}
	}
	return rv
}

func (d *decoder) realServer(b *hcl.Block) *rawRealServer {
	rr := &rawRealServer{Address: b.Labels[0], AddressRange: b.LabelRanges[0], Body: b.Body, DefRange: b.DefRange}
	c, diags := b.Body.Content(d.rs)
	d.diags = append(d.diags, diags...)
	for name, a := range c.Attributes {
		rr.attr(d, name, a.Expr)
	}
	for _, blk := range c.Blocks {
		if blk.Type == "health_check" {
			rr.HealthChecks = append(rr.HealthChecks, d.healthCheck(blk))
		}
	}
	return rr
}

// realServerSyntax is realServer straight from the syntax tree, for
// streamFile: no schema, no body wrappers, no copies of the attributes
// (a third of the decoding at 10,000 reals). It is false for what only
// the schema would report (an unknown attribute or block, a label too
// many or too few, a dynamic block); streamFile then gives up.
func (d *decoder) realServerSyntax(b *hclsyntax.Block) (*rawRealServer, bool) {
	if len(b.Labels) != 1 {
		return nil, false
	}
	rr := &rawRealServer{Address: b.Labels[0], AddressRange: b.LabelRanges[0], Body: b.Body, DefRange: b.DefRange()}
	for name, a := range b.Body.Attributes {
		if !rr.attr(d, name, a.Expr) {
			return nil, false
		}
	}
	for _, blk := range b.Body.Blocks {
		if blk.Type != "health_check" || len(blk.Labels) != 1 {
			return nil, false
		}
		h := blk.AsHCLBlock()
		h.Body = dynblock.Expand(blk.Body, d.ctx)
		rr.HealthChecks = append(rr.HealthChecks, d.healthCheck(h))
	}
	return rr, true
}

// attr decodes attribute name of a real_server; false for an unknown one.
func (rr *rawRealServer) attr(d *decoder, name string, e hcl.Expression) bool {
	switch name {
	case "port":
		d.num(e, &rr.Port)
	case "weight":
		d.num(e, &rr.Weight)
	case "forwarding":
		d.str(e, &rr.Forwarding)
	case "upper_threshold":
		d.num(e, &rr.UpperThreshold)
	case "lower_threshold":
		d.num(e, &rr.LowerThreshold)
	case "notify_up":
		d.value(e, &rr.NotifyUp)
	case "notify_down":
		d.value(e, &rr.NotifyDown)
	default:
		return false
	}
	return true
}

func (d *decoder) healthCheck(b *hcl.Block) *rawHealthCheck {
	rh := &rawHealthCheck{Type: b.Labels[0], TypeRange: b.LabelRanges[0], Body: b.Body, DefRange: b.DefRange}
	c, diags := b.Body.Content(d.hc)
	d.diags = append(d.diags, diags...)
	rh.attrs = c.Attributes
	for name, a := range c.Attributes {
		if p := rh.strField(name); p != nil {
			d.str(a.Expr, p)
		} else if p := rh.numField(name); p != nil {
			d.num(a.Expr, p)
		} else if p := rh.otherField(name); p != nil {
			d.value(a.Expr, p)
		}
	}
	return rh
}

// strField is the string attribute called name, nil for another.
func (rh *rawHealthCheck) strField(name string) **string {
	switch name {
	case "interval":
		return &rh.Interval
	case "timeout":
		return &rh.Timeout
	case "retry_delay":
		return &rh.RetryDelay
	case "initial":
		return &rh.Initial
	case "connect_address":
		return &rh.ConnectAddress
	case "bind_address":
		return &rh.BindAddress
	case "path":
		return &rh.Path
	case "method":
		return &rh.Method
	case "host":
		return &rh.Host
	case "body_regex":
		return &rh.BodyRegex
	case "body_digest":
		return &rh.BodyDigest
	case "tls_server_name":
		return &rh.TLSServerName
	case "ca_file":
		return &rh.CAFile
	case "payload":
		return &rh.Payload
	case "reply_hex":
		return &rh.ReplyHex
	case "reply_regex":
		return &rh.ReplyRegex
	case "helo_name":
		return &rh.HeloName
	case "query_name":
		return &rh.QueryName
	case "query_type":
		return &rh.QueryType
	case "rcode":
		return &rh.Rcode
	case "answer":
		return &rh.Answer
	}
	return nil
}

// numField is the whole-number attribute called name, nil for another.
func (rh *rawHealthCheck) numField(name string) **int {
	switch name {
	case "rise":
		return &rh.Rise
	case "fall":
		return &rh.Fall
	case "connect_port":
		return &rh.ConnectPort
	case "count":
		return &rh.Count
	}
	return nil
}

// otherField is the bool or list attribute called name, nil for another.
func (rh *rawHealthCheck) otherField(name string) any {
	switch name {
	case "status":
		return &rh.Status
	case "command":
		return &rh.Command
	case "insecure_skip_verify":
		return &rh.InsecureSkipVerify
	case "dynamic_weight":
		return &rh.DynamicWeight
	case "require_reply":
		return &rh.RequireReply
	case "through_vip":
		return &rh.ThroughVIP
	}
	return nil
}

// value decodes a's value into dst as gohcl would.
func (d *decoder) value(e hcl.Expression, dst any) {
	d.diags = append(d.diags, gohcl.DecodeExpression(e, d.ctx, dst)...)
}

// plain is a's value when it is known, not null, unmarked and of type
// ty; anything else (an error included) is left to gohcl, which reports
// it in its own words.
func (d *decoder) plain(e hcl.Expression, ty cty.Type) (cty.Value, bool) {
	v, diags := e.Value(d.ctx)
	if len(diags) > 0 || v.IsMarked() || !v.IsWhollyKnown() || v.IsNull() || !v.Type().Equals(ty) {
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) str(e hcl.Expression, dst **string) {
	v, ok := d.plain(e, cty.String)
	if !ok {
		d.value(e, dst)
		return
	}
	s := v.AsString()
	*dst = &s
}

func (d *decoder) num(e hcl.Expression, dst **int) {
	v, ok := d.plain(e, cty.Number)
	if !ok {
		d.value(e, dst)
		return
	}
	i, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || int64(int(i)) != i {
		d.value(e, dst) // a fraction or out of range: gohcl says so
		return
	}
	n := int(i)
	*dst = &n
}
