package config

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// streamFile is parse's fast path for one large, valid file: it parses
// the file in parseFile's pieces and decodes and resolves each
// virtual_server (each real of a large one) as soon as its piece is
// parsed, then drops that piece's syntax tree. The whole file's tree
// (about 28 bytes for each byte of source: 28 MB at 10,000 reals) never
// exists at once.
//
// It is only for what it can do exactly as parse does: nil, and parse
// starts over, for several files, anything splitFile would not cut, a
// top-level dynamic block, a locals block after a virtual_server (the
// locals are evaluated when the first one comes), a large
// virtual_server whose attributes or checks follow its reals, and
// above all any diagnostic, error or warning: the usual path then
// reports them all, located as always.
func streamFile(src source, host bool, chunk int) *Config {
	if len(src.src) <= chunk || src.src[len(src.src)-1] != '\n' {
		return nil
	}
	items, ok := scanItems(src.src)
	if !ok {
		return nil
	}
	// Sized once: grown by appending, the model's copies were a fifth
	// of the memory allocated.
	n := 0
	for _, it := range items {
		if bytes.HasPrefix(bytes.TrimLeft(src.src[it.start:it.end], " \t\r\n"), []byte("virtual_server")) {
			n++
		}
	}
	st := &streamer{splitter: newSplitter(src.src, src.name), r: &resolver{host: host}, vss: make([]VirtualServer, 0, n)}
	st.raw.VirtualServers = make([]*rawVirtualServer, 0, n)
	if !st.walk(items, chunk, st.piece, func(it item) bool { return st.bigBlock(it, chunk) }) {
		return nil
	}
	if !st.context() {
		return nil
	}
	rest := dynblock.Expand(st.top, st.d.ctx)
	if diags := gohcl.DecodeBody(rest, st.d.ctx, &st.raw); len(diags) > 0 {
		return nil
	}
	cfg := st.r.file(&st.raw, st.vss)
	if len(st.r.diags) > 0 {
		return nil
	}
	return cfg
}

// streamer is streamFile's state: the top-level blocks other than
// virtual_server (kept whole in the splitter's body: they are few), the
// virtual servers resolved so far and their raw blocks, stripped of
// their syntax trees.
type streamer struct {
	*splitter
	d   *decoder
	r   *resolver
	raw rawFile
	vss []VirtualServer
}

// context evaluates the locals, once, when the first virtual_server
// needs them or at the end.
func (st *streamer) context() bool {
	if st.d != nil {
		return true
	}
	ctx, diags := evalContext(st.top)
	if len(diags) > 0 {
		return false
	}
	st.d = newDecoder(ctx)
	return true
}

// piece parses top-level items [a, b) and takes in their blocks.
func (st *streamer) piece(a, b int) bool {
	if a == b {
		return true
	}
	body, ok := st.parse(a, b)
	if !ok || len(body.Attributes) > 0 {
		return false
	}
	for _, blk := range body.Blocks {
		switch {
		case blk.Type == "dynamic", blk.Type == "locals" && st.d != nil:
			return false
		case blk.Type != "virtual_server":
			st.top.Blocks = append(st.top.Blocks, blk)
		case len(blk.Labels) != 1 || !st.context() || !st.service(blk):
			return false
		}
	}
	return len(st.r.diags) == 0
}

// service takes in a virtual_server of a piece: the service decoded as
// usual, then its reals straight from the syntax tree.
func (st *streamer) service(blk *hclsyntax.Block) bool {
	head := *blk
	head.Body = &hclsyntax.Body{Attributes: blk.Body.Attributes, Blocks: hclsyntax.Blocks{}, SrcRange: blk.Body.SrcRange, EndRange: blk.Body.EndRange}
	var reals []*hclsyntax.Block
	for _, b := range blk.Body.Blocks {
		switch b.Type {
		case "dynamic":
			return false
		case "real_server":
			reals = append(reals, b)
		default:
			head.Body.Blocks = append(head.Body.Blocks, b)
		}
	}
	bs := &bigService{st: st, blk: &head}
	if !bs.start() {
		return false
	}
	for _, b := range reals {
		if !bs.real(b) {
			return false
		}
	}
	return bs.finish()
}

// add keeps a resolved virtual server, and its raw block for the checks
// across services, without the syntax tree or the reals: a check that
// would look at them reports something, and then parse starts over
// anyway.
func (st *streamer) add(rv *rawVirtualServer, vs VirtualServer) {
	// The raw reals serve only to locate a warning.
	rv.Body, rv.attrs, rv.HealthChecks, rv.RealServers = &hclsyntax.Body{}, nil, nil, nil
	st.raw.VirtualServers = append(st.raw.VirtualServers, rv)
	st.vss = append(st.vss, vs)
}

// bigBlock takes in a large block. A virtual_server's reals are resolved
// piece by piece, after the service, whose attributes and checks must
// all come before the first real; another block is kept whole.
func (st *streamer) bigBlock(it item, chunk int) bool {
	blk := st.head(it)
	if blk == nil {
		return false
	}
	if blk.Type == "dynamic" || blk.Type == "locals" && st.d != nil {
		return false
	}
	if blk.Type != "virtual_server" {
		ok := st.bodyPieces(it, chunk, func(body *hclsyntax.Body) bool { return merge(blk.Body, body) })
		st.closeBlock(blk, it)
		st.top.Blocks = append(st.top.Blocks, blk)
		return ok
	}
	if len(blk.Labels) != 1 || !st.context() {
		return false
	}
	bs := &bigService{st: st, blk: blk}
	if !st.bodyPieces(it, chunk, bs.piece) {
		return false
	}
	st.closeBlock(blk, it)
	if bs.reals == nil && !bs.start() {
		return false
	}
	return bs.finish()
}

// bigService is a large virtual_server being resolved.
type bigService struct {
	st    *streamer
	blk   *hclsyntax.Block
	rv    *rawVirtualServer
	vs    *VirtualServer
	b     blk
	reals *realsOf
}

// piece takes in one piece of the service's body.
func (bs *bigService) piece(body *hclsyntax.Body) bool {
	firstReal := -1
	for _, b := range body.Blocks {
		if b.Type == "real_server" {
			firstReal = b.Range().Start.Byte
			break
		}
	}
	// What comes before the first real belongs to the service.
	for _, a := range body.Attributes {
		if bs.reals != nil || (firstReal >= 0 && a.SrcRange.Start.Byte > firstReal) {
			return false
		}
	}
	if bs.reals == nil && !merge(bs.blk.Body, &hclsyntax.Body{Attributes: body.Attributes}) {
		return false
	}
	for _, b := range body.Blocks {
		switch {
		case b.Type != "real_server" && bs.reals != nil, b.Type == "dynamic":
			return false
		case b.Type != "real_server":
			bs.blk.Body.Blocks = append(bs.blk.Body.Blocks, b)
		case bs.reals == nil && !bs.start(), !bs.real(b):
			return false
		}
	}
	return len(bs.st.r.diags) == 0
}

// real resolves one real_server block.
func (bs *bigService) real(b *hclsyntax.Block) bool {
	rr, ok := bs.st.d.realServerSyntax(b)
	if !ok || len(bs.st.d.diags) > 0 {
		return false
	}
	bs.reals.add(rr)
	return len(bs.st.r.diags) == 0
}

// finish checks what needs every real and keeps the service.
func (bs *bigService) finish() bool {
	bs.reals.done(bs.b)
	bs.st.add(bs.rv, *bs.vs)
	return len(bs.st.r.diags) == 0
}

// start resolves the service, its reals to come.
func (bs *bigService) start() bool {
	h := bs.blk.AsHCLBlock()
	h.Body = dynblock.Expand(bs.blk.Body, bs.st.d.ctx)
	bs.rv = bs.st.d.virtualServer(h)
	if len(bs.st.d.diags) > 0 || len(bs.rv.RealServers) > 0 {
		return false // reals this way came from a dynamic block
	}
	vs, b := bs.st.r.service(bs.rv)
	bs.vs, bs.b = &vs, b
	bs.reals = bs.st.r.reals(bs.vs, 0)
	return len(bs.st.r.diags) == 0
}

// newDecoder is a decoder for expressions in ctx.
func newDecoder(ctx *hcl.EvalContext) *decoder {
	d := &decoder{ctx: ctx}
	d.vs, _ = gohcl.ImpliedBodySchema(&rawVirtualServer{})
	d.rs, _ = gohcl.ImpliedBodySchema(&rawRealServer{})
	d.hc, _ = gohcl.ImpliedBodySchema(&rawHealthCheck{})
	return d
}
