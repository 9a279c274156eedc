package lvs

import (
	"fmt"
	"slices"
	"strings"
)

// OpKind is a kind of IPVS write.
type OpKind int

// Kinds of write, in the order a plan performs them.
const (
	CreateService OpKind = iota
	UpdateService
	CreateDest
	UpdateDest
	DeleteDest
	DeleteService
)

func (k OpKind) String() string {
	return [...]string{"create-service", "update-service", "create-dest", "update-dest", "delete-dest", "delete-service"}[k]
}

// Op is one IPVS write.
type Op struct {
	Kind    OpKind
	Service Service
	Dest    Destination // for the *Dest kinds
}

func (o Op) String() string {
	if o.Kind >= CreateDest && o.Kind <= DeleteDest {
		return fmt.Sprintf("%s %s -> %s weight %d", o.Kind, o.Service.ServiceKey, o.Dest.DestKey, o.Dest.Weight)
	}
	return fmt.Sprintf("%s %s %s", o.Kind, o.Service.ServiceKey, o.Service.Scheduler)
}

// Diff plans the writes that turn observed into desired for the services
// in owned (which must include every desired service, and also those
// applied earlier and since removed from the configuration). A service not
// owned is never touched, even when it shares an address.
//
// Attributes the kernel can change in place (a service's scheduler, flags,
// timeout and netmask; a destination's weight, forwarding and thresholds)
// are updated, never deleted and re-created, since a delete drops the
// connections. New destinations are added before old ones go, so a
// replaced real never leaves a service empty.
func Diff(desired, observed Table, owned map[ServiceKey]bool) []Op {
	// The maps are walked in any order and only the ops are sorted: a
	// reload that changes one real of 40,000 must not sort (and name)
	// every service to find it.
	var ops []Op
	for k, want := range desired {
		have, ok := observed[k]
		switch {
		case !ok:
			ops = append(ops, Op{Kind: CreateService, Service: want.Service})
		case have.Service != want.Service:
			ops = append(ops, Op{Kind: UpdateService, Service: want.Service})
		}
		var cur Dests
		if ok {
			cur = have.Dests
		}
		ops = diffDests(ops, want.Service, want.Dests, cur)
	}
	for k, e := range observed {
		if owned[k] && desired[k] == nil {
			ops = append(ops, Op{Kind: DeleteService, Service: e.Service})
		}
	}
	return sortPlan(ops)
}

// diffDests appends the writes that turn have into want, walking the
// two sorted sets side by side.
func diffDests(ops []Op, svc Service, want, have Dests) []Op {
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		c := -1 // only want is left
		switch {
		case i == len(want):
			c = 1
		case j < len(have):
			c = compareDestKeys(want[i].DestKey, have[j].DestKey)
		}
		switch {
		case c < 0:
			ops = append(ops, Op{Kind: CreateDest, Service: svc, Dest: want[i]})
			i++
		case c > 0:
			ops = append(ops, Op{Kind: DeleteDest, Service: svc, Dest: have[j]})
			j++
		default:
			if want[i] != have[j] {
				ops = append(ops, Op{Kind: UpdateDest, Service: svc, Dest: want[i]})
			}
			i, j = i+1, j+1
		}
	}
	return ops
}

// sortPlan orders a plan by kind, then service (as Table.Keys), then
// destination (address, port): the same plan whatever the maps' order.
// Each service is named once, not at every comparison.
func sortPlan(ops []Op) []Op {
	if len(ops) < 2 {
		return ops
	}
	type named struct {
		op   Op
		name string
	}
	ns := make([]named, len(ops))
	for i, op := range ops {
		ns[i] = named{op, op.Service.ServiceKey.String()}
	}
	slices.SortFunc(ns, func(a, b named) int {
		if c := int(a.op.Kind) - int(b.op.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := int(a.op.Service.Family) - int(b.op.Service.Family); c != 0 {
			return c
		}
		if c := a.op.Dest.Addr.Compare(b.op.Dest.Addr); c != 0 {
			return c
		}
		return int(a.op.Dest.Port) - int(b.op.Dest.Port)
	})
	for i := range ns {
		ops[i] = ns[i].op
	}
	return ops
}

// Apply returns t with ops carried out, as the kernel would: the model the
// reconciler keeps of the table between reads, and the property the tests
// check (Apply(Diff(d, o), o) equals d on owned services).
func (t Table) Apply(ops []Op) Table {
	out := t.Clone()
	out.ApplyInPlace(ops)
	return out
}

// ApplyInPlace carries ops out on t itself, for an owner of t that
// shares it with no one: a copy per write is quadratic over a table of
// tens of thousands of destinations.
func (t Table) ApplyInPlace(ops []Op) {
	out := t
	for _, op := range ops {
		k := op.Service.ServiceKey
		switch op.Kind {
		case CreateService:
			out[k] = &Entry{Service: op.Service}
		case UpdateService:
			if e := out[k]; e != nil {
				e.Service = op.Service
			}
		case DeleteService:
			delete(out, k)
		case CreateDest, UpdateDest:
			if e := out[k]; e != nil {
				e.Dests.Set(op.Dest)
			}
		case DeleteDest:
			if e := out[k]; e != nil {
				e.Dests.Delete(op.Dest.DestKey)
			}
		}
	}
}
