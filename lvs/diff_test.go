package lvs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"pgregory.net/rapid"
)

func svc(port uint16, sched string) Service {
	return Service{
		ServiceKey: ServiceKey{Family: ipvs.INET, Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: port},
		Scheduler:  sched,
		Netmask:    netmask.MaskFrom(32, 32),
	}
}

func dst(last byte, weight uint32) Destination {
	return Destination{DestKey: DestKey{Addr: netip.AddrFrom4([4]byte{10, 0, 0, last}), Port: 80},
		Family: ipvs.INET, Forward: ipvs.DirectRoute, Weight: weight}
}

func table(entries ...*Entry) Table {
	t := Table{}
	for _, e := range entries {
		t[e.Service.ServiceKey] = e
	}
	return t
}

func entry(s Service, ds ...Destination) *Entry {
	return &Entry{Service: s, Dests: DestsOf(ds...)}
}

func ownedBy(ts ...Table) map[ServiceKey]bool {
	o := map[ServiceKey]bool{}
	for _, t := range ts {
		for k := range t {
			o[k] = true
		}
	}
	return o
}

func kinds(ops []Op) string {
	var s []string
	for _, o := range ops {
		s = append(s, o.String())
	}
	return strings.Join(s, "; ")
}

func TestDiff(t *testing.T) {
	web := svc(80, "wrr")
	foreign := svc(8080, "rr")
	tests := []struct {
		name     string
		desired  Table
		observed Table
		owned    map[ServiceKey]bool // nil: the desired services
		want     string
	}{
		{"empty kernel: create everything",
			table(entry(web, dst(12, 2), dst(13, 4))), Table{}, nil,
			"create-service tcp 10.0.0.100:80 wrr; create-dest tcp 10.0.0.100:80 -> 10.0.0.12:80 weight 2; create-dest tcp 10.0.0.100:80 -> 10.0.0.13:80 weight 4"},
		{"already right: nothing",
			table(entry(web, dst(12, 2))), table(entry(web, dst(12, 2))), nil, ""},
		{"a failed real: one weight update",
			table(entry(web, dst(12, 0), dst(13, 4))), table(entry(web, dst(12, 2), dst(13, 4))), nil,
			"update-dest tcp 10.0.0.100:80 -> 10.0.0.12:80 weight 0"},
		{"scheduler change is an update, not delete and create",
			table(entry(svc(80, "wlc"), dst(12, 2))), table(entry(web, dst(12, 2))), nil,
			"update-service tcp 10.0.0.100:80 wlc"},
		{"forwarding change is an update",
			table(entry(web, func() Destination { d := dst(12, 2); d.Forward = ipvs.Masquerade; return d }())), table(entry(web, dst(12, 2))), nil,
			"update-dest tcp 10.0.0.100:80 -> 10.0.0.12:80 weight 2"},
		{"replaced real: add before delete",
			table(entry(web, dst(14, 1))), table(entry(web, dst(12, 1))), nil,
			"create-dest tcp 10.0.0.100:80 -> 10.0.0.14:80 weight 1; delete-dest tcp 10.0.0.100:80 -> 10.0.0.12:80 weight 1"},
		{"foreign service on the same VIP is left alone",
			table(entry(web, dst(12, 2))), table(entry(web, dst(12, 2)), entry(foreign, dst(99, 1))), nil, ""},
		{"service removed from the config is deleted (it was owned)",
			table(entry(web, dst(12, 2))), table(entry(web, dst(12, 2)), entry(svc(443, "rr"), dst(12, 1))),
			ownedBy(table(entry(web)), table(entry(svc(443, "rr")))),
			"delete-service tcp 10.0.0.100:443 rr"},
		{"hand-added destination in an owned service is removed",
			table(entry(web, dst(12, 2))), table(entry(web, dst(12, 2), dst(50, 1))), nil,
			"delete-dest tcp 10.0.0.100:80 -> 10.0.0.50:80 weight 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owned := tt.owned
			if owned == nil {
				owned = ownedBy(tt.desired)
			}
			ops := Diff(tt.desired, tt.observed, owned)
			if got := kinds(ops); got != tt.want {
				t.Errorf("plan:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// The property: whatever the two tables, applying the plan to the
// observed table yields the desired one on every owned service, leaves
// every other service exactly as it was, and never deletes and re-creates
// what could be updated.
func TestDiffProperty(t *testing.T) {
	genTable := func(t *rapid.T, label string) Table {
		tbl := Table{}
		n := rapid.IntRange(0, 5).Draw(t, label+"-services")
		for range n {
			port := uint16(rapid.IntRange(1, 6).Draw(t, label+"-port"))
			s := svc(port, rapid.SampledFrom([]string{"rr", "wrr", "wlc"}).Draw(t, label+"-sched"))
			if rapid.Bool().Draw(t, label+"-persistent") {
				s.Flags, s.Timeout = ipvs.ServicePersistent, 300
			}
			e := entry(s)
			m := rapid.IntRange(0, 5).Draw(t, label+"-dests")
			for range m {
				d := dst(byte(rapid.IntRange(1, 8).Draw(t, label+"-addr")), uint32(rapid.IntRange(0, 3).Draw(t, label+"-weight")))
				d.Forward = rapid.SampledFrom([]ipvs.ForwardType{ipvs.DirectRoute, ipvs.Masquerade, ipvs.Tunnel}).Draw(t, label+"-fwd")
				e.Dests.Set(d)
			}
			tbl[s.ServiceKey] = e
		}
		return tbl
	}
	rapid.Check(t, func(t *rapid.T) {
		desired := genTable(t, "desired")
		observed := genTable(t, "observed")
		// Owned: everything desired, plus a random part of the rest
		// (services applied before and since removed).
		owned := ownedBy(desired)
		for k := range observed {
			if rapid.Bool().Draw(t, "owned") {
				owned[k] = true
			}
		}
		ops := Diff(desired, observed, owned)
		got := observed.Apply(ops)
		for k := range owned {
			w, g := desired[k], got[k]
			switch {
			case w == nil && g != nil:
				t.Fatalf("owned %s should be gone", k)
			case w != nil && (g == nil || g.Service != w.Service || !slices.Equal(g.Dests, w.Dests)):
				t.Fatalf("owned %s is %+v, want %+v\nplan: %s", k, g, w, kinds(ops))
			}
		}
		for k, e := range observed {
			if !owned[k] && (got[k] == nil || got[k].Service != e.Service || !slices.Equal(got[k].Dests, e.Dests)) {
				t.Fatalf("unowned %s was touched\nplan: %s", k, kinds(ops))
			}
		}
		for _, op := range ops {
			if !owned[op.Service.ServiceKey] {
				t.Fatalf("a write to an unowned service: %s", op)
			}
			if op.Kind == DeleteService && desired[op.Service.ServiceKey] != nil {
				t.Fatalf("a desired service was deleted: %s", op)
			}
		}
		// The plan is the same whatever the maps' order: by kind, then
		// service (as Keys sorts them), then destination.
		if !slices.IsSortedFunc(ops, func(a, b Op) int {
			if c := int(a.Kind) - int(b.Kind); c != 0 {
				return c
			}
			if c := compareKeys(a.Service.ServiceKey, b.Service.ServiceKey); c != 0 {
				return c
			}
			if c := a.Dest.Addr.Compare(b.Dest.Addr); c != 0 {
				return c
			}
			return int(a.Dest.Port) - int(b.Dest.Port)
		}) {
			t.Fatalf("plan out of order: %s", ops)
		}
		// Applying again changes nothing: the plan converges.
		if again := Diff(desired, got, owned); len(again) != 0 {
			t.Fatalf("second plan not empty: %s", kinds(again))
		}
	})
}

func TestPlanOrder(t *testing.T) {
	web := svc(80, "wrr")
	old := svc(443, "rr")
	ops := Diff(table(entry(svc(80, "wlc"), dst(14, 1)), entry(svc(81, "rr"), dst(1, 1))),
		table(entry(web, dst(12, 1)), entry(old, dst(1, 1))),
		ownedBy(table(entry(web), entry(old), entry(svc(81, "rr")))))
	var order []OpKind
	for _, o := range ops {
		order = append(order, o.Kind)
	}
	if !slices.IsSorted(order) {
		t.Fatalf("plan out of order: %s", kinds(ops))
	}
	if fmt.Sprint(order) != fmt.Sprint([]OpKind{CreateService, UpdateService, CreateDest, CreateDest, DeleteDest, DeleteService}) {
		t.Fatalf("plan: %s", kinds(ops))
	}
}

// BenchmarkDiffNoChange diffs 10,000 services x 4 destinations against
// the same table: what every reload and drift check that changes nothing
// costs.
func BenchmarkDiffNoChange(b *testing.B) {
	t := Table{}
	for i := range 10000 {
		s := svc(uint16(1000+i%4), "wrr")
		s.Addr = netip.AddrFrom4([4]byte{198, 18, byte(i >> 10), byte(i >> 2)})
		e := entry(s)
		for j := range 4 {
			d := dst(byte(1+j), 1)
			d.Addr = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(1 + j)})
			e.Dests.Set(d)
		}
		t[s.ServiceKey] = e
	}
	observed, owned := t.Clone(), ownedBy(t)
	b.ResetTimer()
	for range b.N {
		if ops := Diff(t, observed, owned); len(ops) != 0 {
			b.Fatalf("%d ops", len(ops))
		}
	}
}
