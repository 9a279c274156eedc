package vrrp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
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

// runScript runs a track script once; exit 0 passes.
func runScript(ctx context.Context, run RunFunc, s TrackScript) bool {
	res, err := run(ctx, s.User, s.Command, nil, s.Timeout, nil)
	return err == nil && res.ExitCode == 0
}

// scriptState is where a track script stands: its state, and how many
// results in a row have disagreed with it.
type scriptState struct {
	script TrackScript
	ok     bool
	streak int
}

// scriptResult is one run of a track script, sent to the loop.
type scriptResult struct {
	in   *instance
	gen  uint64
	st   *scriptState
	pass bool
	due  time.Time // when this run was due: the next is an interval on
}

// scheduleScript puts the next run of a track script on the agenda. The
// script itself runs beside the loop (it may take up to its timeout), and
// its result comes back as an event; the rise and fall counting is the
// loop's.
func (r *Router) scheduleScript(ctx context.Context, in *instance, gen uint64, st *scriptState, due time.Time) {
	r.agenda.at(due, func(time.Time) {
		if in.trackGen != gen {
			return
		}
		go func() {
			pass := runScript(ctx, r.sys.Run, st.script)
			select {
			case r.events <- scriptResult{in: in, gen: gen, st: st, pass: pass, due: due}:
			case <-ctx.Done():
			}
		}()
	})
}

// scriptDone counts a track script's result: rise passes in a row make it
// OK, fall failures in a row make it fail.
func (r *Router) scriptDone(now time.Time, e scriptResult) {
	in, st := e.in, e.st
	if in.trackGen != e.gen || r.byName[in.cfg.Name] != in {
		return // a reload or stop replaced the schedule
	}
	if e.pass == st.ok {
		st.streak = 0
	} else {
		st.streak++
		if (e.pass && st.streak >= st.script.Rise) || (!e.pass && st.streak >= st.script.Fall) {
			st.ok, st.streak = e.pass, 0
			if in.setTracked(TrackKindScript, st.script.Name, st.ok, 0) {
				r.refreshTracking(now, in)
			}
		}
	}
	next := e.due.Add(st.script.Interval)
	if next.Before(now) {
		next = now // a run that took longer than the interval
	}
	r.scheduleScript(in.trackCtx, in, e.gen, st, next)
}

// readTrackFile reads the integer in a track_file. A missing or empty file
// counts as 0, as in keepalived.
func readTrackFile(read func(string) ([]byte, error), path string) (int, error) {
	b, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
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

// readSmallFile is the track_file reader of a real host: a regular file
// only, opened without blocking (a FIFO put there would otherwise block
// the first read, which start-up and reloads make on the loop), and at
// most 4 KiB of it.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("track_file %s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, 4096))
}

// trackFilePoll is how often a track_file is read.
const trackFilePoll = 500 * time.Millisecond

// fileResult is one read of a track_file, sent to the loop.
type fileResult struct {
	in    *instance
	gen   uint64
	file  TrackFile
	value int
	err   error
}

// scheduleFilePoll puts the next read of a track_file on the agenda. The
// read runs beside the loop, since a file on a hung mount (or a FIFO)
// would block it, and the loop schedules the next one when it has the
// result: a read that never returns stops the polls, not the protocol.
func (r *Router) scheduleFilePoll(in *instance, gen uint64, f TrackFile, due time.Time) {
	r.agenda.at(due, func(time.Time) {
		if in.trackGen != gen {
			return
		}
		ctx := in.trackCtx
		go func() {
			v, err := readTrackFile(r.sys.ReadFile, f.Path)
			select {
			case r.events <- fileResult{in: in, gen: gen, file: f, value: v, err: err}:
			case <-ctx.Done():
			}
		}()
	})
}

// fileRead applies a track_file's value: a change changes the instance's
// priority (or fault) at once.
func (r *Router) fileRead(now time.Time, e fileResult) {
	in := e.in
	if in.trackGen != e.gen || r.byName[in.cfg.Name] != in {
		return
	}
	if e.err == nil && in.setTracked(TrackKindFile, e.file.Path, false, e.value) {
		r.refreshTracking(now, in)
	}
	r.scheduleFilePoll(in, e.gen, e.file, now.Add(trackFilePoll))
}
