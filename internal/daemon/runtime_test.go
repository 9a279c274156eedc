package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"directord/config"
)

func intp(n int) *int { return &n }

// The state file round-trips, a missing one is empty, a file of another
// version or garbage is refused, and a save leaves no temporary file.
func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	path := StatePath(filepath.Join(dir, "d.sock"))
	st, err := loadState(path)
	if err != nil || len(st) != 0 {
		t.Fatalf("missing state file: %v %v, want empty", st, err)
	}
	want := runtimeState{"web/10.0.0.2:80": {Drained: true}, "web/10.0.0.3:80": {Weight: intp(0)}}
	if err := saveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["web/10.0.0.2:80"].Drained || got["web/10.0.0.3:80"].Weight == nil || *got["web/10.0.0.3:80"].Weight != 0 {
		t.Errorf("loaded %+v, want %+v (a weight override of 0 is not lost)", got, want)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("the directory holds %d entries after a save, want the state file alone", len(ents))
	}
	for body, msg := range map[string]string{
		`{"version": 2, "reals": {}}`: "version 2, want 1",
		`{"version": 1, "reals": [`:   "unexpected end of JSON input",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadState(path); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("loading %s: %v, want %q", body, err, msg)
		}
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(path); err == nil || !strings.Contains(err.Error(), "writable by everyone") {
		t.Errorf("a state file others can write was loaded: %v", err)
	}
}

// Entries of reals the configuration no longer has are dropped; with
// keeps the original as it was.
func TestRuntimeStatePruneAndWith(t *testing.T) {
	cfg, err := config.Parse("p.hcl", []byte(`virtual_server "web" {
  address = "192.0.2.10"
  port = 80
  real_server "10.0.0.2" {}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	st := runtimeState{"web/10.0.0.2:80": {Drained: true}}
	st2 := st.with("web/10.0.0.9:80", Override{Weight: intp(4)}).with("api/10.0.0.2:80", Override{Drained: true})
	if len(st) != 1 || len(st2) != 3 {
		t.Fatalf("with changed its receiver or lost an entry: %v %v", st, st2)
	}
	kept, dropped := st2.pruned(cfg)
	if len(kept) != 1 || !kept["web/10.0.0.2:80"].Drained || !slices.Equal(dropped, []string{"api/10.0.0.2:80", "web/10.0.0.9:80"}) {
		t.Errorf("pruned: kept %v dropped %v", kept, dropped)
	}
	if got := st2.with("web/10.0.0.2:80", Override{}); len(got) != 2 {
		t.Errorf("an override set back to nothing stays: %v", got)
	}
}

// The effective weight: a drain (operator or maintenance) wins over an
// override, which wins over the configured weight; and withOverrides
// puts it in the reconciler's spec by WatchID.
func TestEffectiveWeight(t *testing.T) {
	for _, c := range []struct {
		o     Override
		maint bool
		want  int
	}{
		{Override{}, false, 5},
		{Override{Weight: intp(9)}, false, 9},
		{Override{Weight: intp(0)}, false, 0},
		{Override{Drained: true, Weight: intp(9)}, false, 0},
		{Override{Weight: intp(9)}, true, 0},
	} {
		if got := effectiveWeight(5, c.o, c.maint); got != c.want {
			t.Errorf("effectiveWeight(5, %+v, %v) = %d, want %d", c.o, c.maint, got, c.want)
		}
	}
	cfg, err := config.Parse("p.hcl", []byte(`virtual_server "web" {
  address = "192.0.2.10"
  port = 80
  real_server "10.0.0.2" { weight = 3 }
  real_server "10.0.0.3" { weight = 3 }
  real_server "10.0.0.4" { weight = 3 }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	spec := withOverrides(IPVSSpec(cfg), runtimeState{"web/10.0.0.2:80": {Drained: true}, "web/10.0.0.3:80": {Weight: intp(7)}},
		map[string]bool{"web/10.0.0.4:80": true})
	var got []uint32
	for _, r := range spec.Services[0].Reals {
		got = append(got, r.Dest.Weight)
	}
	if !slices.Equal(got, []uint32{0, 7, 0}) {
		t.Errorf("weights in the spec %v, want [0 7 0]", got)
	}
}
