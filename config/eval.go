package config

import (
	"sort"

	"github.com/hashicorp/go-cty-funcs/cidr"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions are what expressions may call: cty's standard library under
// Terraform's names (those generated configurations use), try and can,
// and cidrhost and cidrsubnet for address plans.
func functions() map[string]function.Function {
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
		"format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"join": stdlib.JoinFunc, "split": stdlib.SplitFunc, "lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc,
		"replace": stdlib.ReplaceFunc, "substr": stdlib.SubstrFunc, "trimspace": stdlib.TrimSpaceFunc,
		"regex": stdlib.RegexFunc, "strlen": stdlib.StrlenFunc,
		"range": stdlib.RangeFunc, "concat": stdlib.ConcatFunc, "flatten": stdlib.FlattenFunc,
		"length": stdlib.LengthFunc, "element": stdlib.ElementFunc, "slice": stdlib.SliceFunc,
		"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "reverse": stdlib.ReverseListFunc,
		"sort": stdlib.SortFunc, "keys": stdlib.KeysFunc, "values": stdlib.ValuesFunc, "lookup": stdlib.LookupFunc,
		"merge": stdlib.MergeFunc, "zipmap": stdlib.ZipmapFunc, "setproduct": stdlib.SetProductFunc,
		"coalesce": stdlib.CoalesceFunc, "jsonencode": stdlib.JSONEncodeFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
		"cidrhost": cidr.HostFunc, "cidrsubnet": cidr.SubnetFunc, "cidrnetmask": cidr.NetmaskFunc,
	}
}

// evalContext evaluates the file's locals blocks, in the order their
// references need, into the context every other expression is evaluated
// in: local.NAME and the functions.
func evalContext(body hcl.Body) (*hcl.EvalContext, hcl.Diagnostics) {
	ctx := &hcl.EvalContext{Functions: functions(), Variables: map[string]cty.Value{"local": cty.EmptyObjectVal}}
	content, _, diags := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "locals"}}})
	defs := map[string]*hcl.Attribute{}
	for _, b := range content.Blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for name, a := range attrs {
			if prev, dup := defs[name]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "local." + name + " is defined twice",
					Detail: "first at " + prev.Range.String(), Subject: a.NameRange.Ptr()})
				continue
			}
			defs[name] = a
		}
	}
	vals := map[string]cty.Value{}
	pending := make([]string, 0, len(defs))
	for name := range defs {
		pending = append(pending, name)
	}
	sort.Strings(pending)
	for len(pending) > 0 {
		var waiting []string
		for _, name := range pending {
			if !ready(defs[name].Expr, defs, vals) {
				waiting = append(waiting, name)
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(vals)
			v, d := defs[name].Expr.Value(ctx)
			diags = append(diags, d...)
			if d.HasErrors() {
				v = cty.DynamicVal // one error, not one per use
			}
			vals[name] = v
		}
		if len(waiting) == len(pending) {
			for _, name := range waiting {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "local." + name + " depends on itself",
					Detail: "locals may refer to each other, but not in a circle", Subject: defs[name].Expr.Range().Ptr()})
			}
			break
		}
		pending = waiting
	}
	ctx.Variables["local"] = cty.ObjectVal(vals)
	return ctx, diags
}

// ready reports whether every local expr refers to has a value: a name
// no locals block defines counts as ready, and its evaluation says so.
func ready(expr hcl.Expression, defs map[string]*hcl.Attribute, vals map[string]cty.Value) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		attr, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		if _, defined := defs[attr.Name]; !defined {
			continue
		}
		if _, done := vals[attr.Name]; !done {
			return false
		}
	}
	return true
}
