// Package vmtest runs a Go test or benchmark inside the User-Mode Linux
// guest of package uml: TestMain calls Main, and a test that needs IPVS
// starts with RunInGuest. It is for test binaries only.
package vmtest

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"directord/internal/testenv"
	"directord/internal/uml"
)

// Main is the TestMain of packages with guest tests: in the guest's PID 1
// it becomes init; everywhere else it runs the tests.
func Main(m *testing.M) {
	if uml.IsInit() {
		uml.RunInit()
	}
	os.Exit(m.Run())
}

// Option changes how RunInGuest boots.
type Option func(*uml.Config)

// WithEnv adds environment variables for the test in the guest.
func WithEnv(kv map[string]string) Option {
	return func(c *uml.Config) {
		for k, v := range kv {
			c.Env[k] = v
		}
	}
}

// WithMem sets the guest's memory, such as "1G".
func WithMem(mem string) Option { return func(c *uml.Config) { c.Mem = mem } }

// WithOutput sends the guest console to w instead of the test log:
// benchmarks print their figures this way.
func WithOutput(w io.Writer) Option { return func(c *uml.Config) { c.Output = w } }

// RunInGuest runs the calling test or benchmark inside a guest kernel.
// On the host it boots the guest, which runs only this test of the same
// binary, streams its output into the test log, fails t if the guest test
// failed, and returns true: the caller returns at once. Inside the guest
// it returns false and the test goes on with its body.
//
// It skips when the UML kernel is missing, except in CI, where that fails.
func RunInGuest(t testing.TB, opts ...Option) bool {
	t.Helper()
	if uml.InGuest() {
		return false
	}
	k, err := uml.FindKernel()
	testenv.Require(t, err == nil, "%v", err)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c := uml.Config{
		Kernel:  k,
		Program: os.Args[0],
		Args:    []string{"-test.run=" + runPattern(t.Name()), "-test.v", "-test.count=1"},
		Env:     map[string]string{},
		Dir:     wd,
	}
	if _, ok := t.(*testing.B); ok {
		c.Args = []string{"-test.run=^$", "-test.bench=" + runPattern(t.Name()), "-test.benchtime=1x", "-test.v"}
	}
	deadline, hasDeadline := time.Time{}, false
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		deadline, hasDeadline = dt.Deadline()
	}
	if hasDeadline {
		c.Args = append(c.Args, "-test.timeout="+time.Until(deadline).Round(time.Second).String())
	}
	lw := &lineWriter{fn: func(s string) { t.Log(s) }}
	c.Output = lw
	for _, o := range opts {
		o(&c)
	}
	ctx := context.Background()
	if hasDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-5*time.Second))
		defer cancel()
	}
	start := time.Now()
	code, err := uml.Boot(ctx, c)
	lw.Flush()
	switch {
	case err != nil:
		t.Fatalf("guest: %v", err)
	case code != 0:
		t.Fatalf("the test failed inside the guest kernel (exit status %d, %s)", code, time.Since(start).Round(time.Millisecond))
	default:
		t.Logf("passed inside the guest kernel (%s including boot)", time.Since(start).Round(time.Millisecond))
	}
	return true
}

// runPattern turns a test name like "TestA/sub_1" into a -test.run
// pattern matching exactly that test.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// lineWriter calls fn for each complete line written to it.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}
