package nldump

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestRetry(t *testing.T) {
	calls := 0
	v, err := Retry(func() (int, error) {
		calls++
		if calls < 3 {
			return -1, netlink.ErrDumpInterrupted
		}
		return 42, nil
	})
	if v != 42 || err != nil || calls != 3 {
		t.Errorf("got %d, %v after %d calls; want 42 after 3", v, err, calls)
	}

	calls = 0
	other := errors.New("no such device")
	if _, err := Retry(func() (int, error) { calls++; return 0, other }); err != other || calls != 1 {
		t.Errorf("another error: got %v after %d calls, want it at once", err, calls)
	}

	calls = 0
	_, err = Retry(func() (int, error) { calls++; return 0, netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || calls != Attempts {
		t.Errorf("always interrupted: got %v after %d calls, want ErrDumpInterrupted after %d", err, calls, Attempts)
	}
}
