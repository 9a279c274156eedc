package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"directord/config"
	"directord/internal/privdir"
	"directord/lvs"
)

// MaxWeight is the largest weight IPVS takes (and the configuration
// allows).
const MaxWeight = 65535

// Override is what an operator set on one real server at run time.
// Drained and Weight are independent: undrain gives back the override
// (or the configured weight) that was in force before the drain.
type Override struct {
	Drained bool `json:"drained,omitempty"`
	Weight  *int `json:"weight,omitempty"`
}

func (o Override) zero() bool { return !o.Drained && o.Weight == nil }

// runtimeState is the operators' overrides by WatchID ("web/10.0.0.2:80").
// A value is never changed once shared: changes make a copy.
type runtimeState map[string]Override

// stateFileVersion lets a later format refuse, rather than misread, an
// older file.
const stateFileVersion = 1

type stateFile struct {
	Version int          `json:"version"`
	Reals   runtimeState `json:"reals"`
}

// StatePath is where the daemon keeps its runtime state: beside the
// status socket, in the directory its run lock already holds to the
// private-directory rule.
func StatePath(socket string) string { return socket + ".state" }

// loadState reads the state file; a missing one is an empty state.
func loadState(path string) (runtimeState, error) {
	if err := privdir.CheckOurPath(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return runtimeState{}, nil
		}
		return nil, fmt.Errorf("state file: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if f.Version != stateFileVersion {
		return nil, fmt.Errorf("state file %s: version %d, want %d", path, f.Version, stateFileVersion)
	}
	if f.Reals == nil {
		f.Reals = runtimeState{}
	}
	return f.Reals, nil
}

// saveState writes the state file so that a crash at any point leaves
// either the old file or the new one: a temporary file in the same
// directory, synced, renamed over the old one, and the directory synced
// so the rename itself survives a power cut.
func saveState(path string, st runtimeState) error {
	b, err := json.MarshalIndent(stateFile{Version: stateFileVersion, Reals: st}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with b through a fresh temporary file in
// the same directory, synced, so a crash leaves the old file or the new.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// with returns a copy of st with id's override set (removed when zero).
func (st runtimeState) with(id string, o Override) runtimeState {
	c := maps.Clone(st)
	if c == nil {
		c = runtimeState{}
	}
	if o.zero() {
		delete(c, id)
	} else {
		c[id] = o
	}
	return c
}

// pruned returns st without the reals cfg no longer declares, and their
// ids, sorted.
func (st runtimeState) pruned(cfg *config.Config) (runtimeState, []string) {
	if len(st) == 0 {
		// The usual case: no override to keep, and no need to name
		// every real of the file to find out.
		return st, nil
	}
	known := map[string]bool{}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			known[WatchID(vs, &vs.RealServers[j])] = true
		}
	}
	out := runtimeState{}
	var dropped []string
	for id, o := range st {
		if known[id] {
			out[id] = o
		} else {
			dropped = append(dropped, id)
		}
	}
	slices.Sort(dropped)
	return out, dropped
}

// effectiveWeight is the weight a real is given when it is up: 0 while
// drained by an operator or a maintenance file, else the override, else
// the configured weight. Health is applied on top by the reconciler (a
// down real gets 0 or is removed), so a drain outlives a recovery.
func effectiveWeight(configured int, o Override, maint bool) int {
	switch {
	case o.Drained || maint:
		return 0
	case o.Weight != nil:
		return *o.Weight
	}
	return configured
}

// withOverrides sets each real's weight in spec to its effective weight,
// in place: spec is IPVSSpec's, made for this call, and a copy of its
// reals was 0.7 MB of the daemon's heap at 10,000 reals. Reals are found
// by their Check, which IPVSSpec sets to the WatchID.
func withOverrides(spec lvs.Spec, st runtimeState, maint map[string]bool) lvs.Spec {
	for i := range spec.Services {
		reals := spec.Services[i].Reals
		for j := range reals {
			id := reals[j].Check
			reals[j].Dest.Weight = uint32(effectiveWeight(int(reals[j].Dest.Weight), st[id], maint[id]))
		}
	}
	return spec
}
