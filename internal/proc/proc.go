// Package proc runs the operator's programs (track scripts, notify hooks,
// exec health checks) the way a daemon must: from an argv without a shell,
// in a process group of their own, killed with the whole group when their
// timeout passes, so a hung script cannot leave children behind.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// ErrTimeout is returned, wrapped, when the program outlived its timeout.
var ErrTimeout = errors.New("timed out")

// MaxTimeout bounds every run: a hook or check configured with a longer
// timeout is refused by the configuration, and Run clamps to it, so that
// nothing the daemon starts can outlive it by more.
const MaxTimeout = 5 * time.Minute

// MaxOutput is how much of a command's output is kept (its start); the
// rest is read and dropped, so a chatty hook costs no memory.
const MaxOutput = 4096

// Capped keeps the first MaxOutput bytes written to it and counts the
// rest.
type Capped struct {
	buf     []byte
	Dropped int
}

func (c *Capped) Write(p []byte) (int, error) {
	k := min(len(p), MaxOutput-len(c.buf))
	c.buf = append(c.buf, p[:k]...)
	c.Dropped += len(p) - k
	return len(p), nil
}

// Bytes is what was kept.
func (c *Capped) Bytes() []byte { return c.buf }

// Result is how a program ended.
type Result struct {
	ExitCode int // -1 when it did not exit by itself
	Duration time.Duration
}

// Run runs argv with env added to a minimal environment and waits at most
// timeout. A non-zero exit is not an error: look at ExitCode. Output, if not
// nil, receives stdout and stderr.
func Run(ctx context.Context, argv, env []string, timeout time.Duration, output io.Writer) (Result, error) {
	return RunAs(ctx, nil, argv, env, timeout, output)
}

// RunAs is Run as user (nil: as the daemon).
func RunAs(ctx context.Context, user *User, argv, env []string, timeout time.Duration, output io.Writer) (Result, error) {
	if len(argv) == 0 {
		return Result{ExitCode: -1}, errors.New("empty command")
	}
	if timeout <= 0 || timeout > MaxTimeout {
		timeout = MaxTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The file run is the file CheckScript checked: a bare name from
	// Path, not from the daemon's own environment.
	path, err := LookPath(argv[0])
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = append([]string{"PATH=" + Path}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: user.credential()}
	cmd.Cancel = func() error {
		// The negative pid is the whole process group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A grandchild that keeps the output pipe open must not hold us.
	cmd.WaitDelay = 100 * time.Millisecond
	if output != nil {
		cmd.Stdout, cmd.Stderr = output, output
	}
	start := time.Now()
	err = cmd.Run()
	res := Result{ExitCode: -1, Duration: time.Since(start)}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return res, fmt.Errorf("%s: %w after %s", argv[0], ErrTimeout, timeout)
	case ctx.Err() != nil:
		return res, ctx.Err()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return res, err
	}
	return res, nil
}
