package vrrp

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kinds of tracked objects.
const (
	TrackKindInterface = "interface"
	TrackKindScript    = "script"
	TrackKindFile      = "file"
)

// Tracked is the current state of one tracked object.
type Tracked struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	// OK is an interface up or a script passing.
	OK bool `json:"ok"`
	// Value is a track_file's integer.
	Value int `json:"value,omitempty"`
}

// EffectivePriority applies keepalived's tracking rules to a base
// priority. An interface or script with weight 0 that is not OK is a
// fault; a positive weight is added while OK, a negative one while not. A
// file adds its value times its weight, and with weight 0 a non-zero value
// is a fault. The result is kept within 1–254. It also names the first
// object that causes a fault.
func EffectivePriority(base uint8, tracks []Tracked) (prio uint8, fault bool, cause string) {
	p := int(base)
	for _, t := range tracks {
		switch t.Kind {
		case TrackKindFile:
			if t.Weight == 0 {
				if t.Value != 0 && !fault {
					fault, cause = true, t.Kind+" "+t.Name
				}
				continue
			}
			p += t.Value * t.Weight
		default:
			switch {
			case t.Weight == 0 && !t.OK:
				if !fault {
					fault, cause = true, t.Kind+" "+t.Name
				}
			case t.Weight > 0 && t.OK, t.Weight < 0 && !t.OK:
				p += t.Weight
			}
		}
	}
	return uint8(max(1, min(p, 254))), fault, cause
}

// trackReport is a tracked object's new state, sent to the router.
type trackReport struct {
	instance string
	kind     string
	name     string
	ok       bool
	value    int
}

// runScript runs a track script once; exit 0 passes.
func runScript(ctx context.Context, run RunFunc, s TrackScript) bool {
	res, err := run(ctx, s.User, s.Command, nil, s.Timeout, nil)
	return err == nil && res.ExitCode == 0
}

// watchScript runs s every interval and reports when rise or fall
// results in a row change its state. ok is the state to start from.
func watchScript(ctx context.Context, run RunFunc, instance string, s TrackScript, ok bool, report func(trackReport)) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	streak := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pass := runScript(ctx, run, s)
		if ctx.Err() != nil {
			return
		}
		if pass == ok {
			streak = 0
			continue
		}
		streak++
		if (pass && streak >= s.Rise) || (!pass && streak >= s.Fall) {
			ok, streak = pass, 0
			report(trackReport{instance: instance, kind: TrackKindScript, name: s.Name, ok: ok})
		}
	}
}

// readTrackFile reads the integer in a track_file. A missing or empty file
// counts as 0, as in keepalived.
func readTrackFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("track_file %s: %q is not an integer", path, s)
	}
	return v, nil
}

// trackFilePoll is how often a track_file is read.
const trackFilePoll = 500 * time.Millisecond

// watchFile polls a track_file and reports changes of its value.
func watchFile(ctx context.Context, instance string, f TrackFile, value int, report func(trackReport)) {
	t := time.NewTicker(trackFilePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := readTrackFile(f.Path)
		if err != nil || v == value {
			continue
		}
		value = v
		report(trackReport{instance: instance, kind: TrackKindFile, name: f.Path, value: v})
	}
}
