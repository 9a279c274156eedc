package vmtest

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"directord/internal/testenv"
)

// Main is the TestMain of packages with guest tests: in the guest's PID 1
// it becomes init; everywhere else it runs the tests.
func Main(m *testing.M) {
	if IsInit() {
		RunInit()
	}
	os.Exit(m.Run())
}

// Option changes how RunInGuest boots.
type Option func(*Config)

// WithEnv adds environment variables for the test in the guest.
func WithEnv(kv map[string]string) Option {
	return func(c *Config) {
		for k, v := range kv {
			c.Env[k] = v
		}
	}
}

// WithMem sets the guest's memory, such as "1G".
func WithMem(mem string) Option { return func(c *Config) { c.Mem = mem } }

// RunInGuest runs the calling test inside a guest kernel. On the host it
// boots the guest, which runs only this test of the same binary, streams
// its output into the test log, fails t if the guest test failed, and
// returns true: the caller returns at once. Inside the guest it returns
// false and the test goes on with its body.
//
// It skips when the UML kernel is missing, except in CI, where that fails.
func RunInGuest(t *testing.T, opts ...Option) bool {
	t.Helper()
	if InGuest() {
		return false
	}
	k, err := FindKernel()
	testenv.Require(t, err == nil, "%v", err)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c := Config{
		Kernel:  k,
		Program: os.Args[0],
		Args:    []string{"-test.run=" + runPattern(t.Name()), "-test.v", "-test.count=1"},
		Env:     map[string]string{},
		Dir:     wd,
	}
	if d, ok := t.Deadline(); ok {
		c.Args = append(c.Args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	for _, o := range opts {
		o(&c)
	}
	lw := &lineWriter{fn: func(s string) { t.Log(s) }}
	c.Output = lw
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
		defer cancel()
	}
	start := time.Now()
	code, err := Boot(ctx, c)
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
