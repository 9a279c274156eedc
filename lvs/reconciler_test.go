package lvs_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/lvs"
	"directord/lvs/lvstest"
)

func parseConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("t.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const oneService = `virtual_server "web" {
  address = "192.168.11.100"
  port = 80
  real_server "192.168.11.12" { weight = 2 }
  real_server "192.168.11.13" { weight = 4 }
}`

// clear_on_stop removed the owned services while the reconciler's last
// pass could still be writing, on the same netlink batcher: ClearOwned
// must wait for Run to end.
func TestClearOwnedWaitsForRun(t *testing.T) {
	k := lvstest.NewKernel(nil)
	r, down, _, cancel := runOneService(t, k)
	entered, release := holdNextWrite(k)
	down.Store(true)
	r.HealthChanged() // a pass that writes weight 0, held in the kernel
	<-entered
	cancel()
	done := make(chan error, 1)
	go func() { done <- r.ClearOwned() }()
	select {
	case err := <-done:
		t.Errorf("ClearOwned returned (%v) while the last pass was still writing", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := k.Overlaps(); n != 0 {
		t.Errorf("%d kernel calls overlapped", n)
	}
	if tbl := k.Table(); len(tbl) != 0 {
		t.Errorf("owned services left: %v", tbl.Keys())
	}
}

// runOneService starts a reconciler of oneService on k, its reals up
// until down is set, running until cancel or the test's end.
func runOneService(t *testing.T, k *lvstest.Kernel) (r *lvs.Reconciler, down *atomic.Bool, ctx context.Context, cancel context.CancelFunc) {
	t.Helper()
	down = new(atomic.Bool)
	r = lvs.New(k, lvs.Options{Health: func(string) bool { return !down.Load() }})
	if err := r.Start(daemon.IPVSSpec(parseConfig(t, oneService))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx)
	return r, down, ctx, cancel
}

// holdNextWrite holds the kernel's next call: entered closes when it
// starts, and it goes on once release is closed.
func holdNextWrite(k *lvstest.Kernel) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	k.SetGate(func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	return entered, release
}
