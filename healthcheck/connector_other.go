//go:build !linux

package healthcheck

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// connector is Linux's (epoll); elsewhere the monitor runs TCP checks on
// goroutines, as it does every other type.
type connector struct{}

type connectDone struct {
	tag any
	res Result
}

func newConnector() (*connector, error) { return nil, errors.New("the TCP connector needs Linux") }

func (*connector) Start(netip.AddrPort, origin, time.Time, time.Time, any) (Result, bool) {
	return Result{}, false
}
func (*connector) Reap(_ time.Time, out []connectDone) []connectDone { return out }
func (*connector) run(context.Context, chan<- []connectDone)         {}
func (*connector) wait() []connectDone                               { return nil }
func (*connector) stop()                                             {}
func (*connector) close()                                            {}
func (*connector) stopped() bool                                     { return true }
