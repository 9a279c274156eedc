package vrrptest

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"directord/internal/proc"
)

// Runner is a vrrp.RunFunc that runs nothing: it records each call and
// answers with the exit status set for the program (0 unless SetExit).
type Runner struct {
	mu    sync.Mutex
	exits map[string]int
	calls []Run
}

// Run is one recorded call.
type Run struct {
	At   time.Time
	User *proc.User
	Argv []string
	Env  []string
}

// SetExit makes program exit with code from now on.
func (r *Runner) SetExit(program string, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exits == nil {
		r.exits = map[string]int{}
	}
	r.exits[program] = code
}

// Run records the call; it is the vrrp.RunFunc.
func (r *Runner) Run(_ context.Context, user *proc.User, argv, env []string, _ time.Duration, _ io.Writer) (proc.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Run{At: time.Now(), User: user, Argv: slices.Clone(argv), Env: slices.Clone(env)})
	return proc.Result{ExitCode: r.exits[argv[0]]}, nil
}

// Calls returns the calls of program so far.
func (r *Runner) Calls(program string) []Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Run
	for _, c := range r.calls {
		if c.Argv[0] == program {
			out = append(out, c)
		}
	}
	return out
}
