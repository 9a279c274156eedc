package doctor

import (
	"testing"

	"directord/internal/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

// In the UML guest, whose kernel has IPVS and every scheduler as modules,
// the module checks pass: ip_vs and each configured scheduler's.
func TestModulesInTheGuest(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	fs := modules(System{}, Input{Schedulers: []string{"wrr", "mh", "sh"}})
	if len(fs) != 4 {
		t.Fatalf("%+v", fs)
	}
	for _, f := range fs {
		if f.Status != OK {
			t.Errorf("%s: %s (%s)", f.Check, f.Status, f.Detail)
		}
	}
}
