package vrrp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// subscribeFunc opens one netlink subscription delivering into ch until
// done closes. The library closes ch when the subscription fails (on
// ENOBUFS above all: the kernel dropped messages because the socket's
// buffer was full), after it reports the error through onErr.
type subscribeFunc[U any] func(ch chan U, done <-chan struct{}, onErr func(error)) error

// resubscribeAfter is the pause before a failed subscription is made
// again.
const resubscribeAfter = 100 * time.Millisecond

// follow turns a subscription that may fail into a stream that lasts
// until ctx ends. Without it, one ENOBUFS (a burst of address changes on
// a busy host) would close the channel and stop interface tracking and
// VIP restoring for the life of the process. Each subscription after the
// first starts with resync, if not nil: it lists what exists, and the
// reader should check what it may have missed (a removal).
func follow[U, T any](ctx context.Context, log *slog.Logger, what string, subscribe subscribeFunc[U], convert func(U) (T, bool), resync *T) (<-chan T, error) {
	// Each subscription has its own done channel, closed when the stream
	// ends or the subscription has failed: the library's goroutine and
	// socket live until it is closed, and one left per failure would
	// leak both for the life of the daemon.
	type sub struct {
		ch   chan U
		stop func()
	}
	open := func() (sub, error) {
		ch, done := make(chan U, 256), make(chan struct{})
		var once sync.Once
		closeDone := func() { once.Do(func() { close(done) }) }
		unhook := context.AfterFunc(ctx, closeDone)
		err := subscribe(ch, done, func(err error) {
			if ctx.Err() == nil { // not the daemon stopping
				log.Warn("netlink subscription error", "what", what, "err", err)
			}
		})
		if err != nil {
			unhook()
			closeDone()
		}
		return sub{ch: ch, stop: func() { unhook(); closeDone() }}, err
	}
	cur, err := open()
	if err != nil {
		return nil, err
	}
	out := make(chan T, 64)
	send := func(v T) bool {
		select {
		case out <- v:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(out)
		for {
			for u := range cur.ch {
				if v, ok := convert(u); ok && !send(v) {
					cur.stop()
					return
				}
			}
			cur.stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(resubscribeAfter):
				}
				next, err := open()
				if err == nil {
					cur = next
					break
				}
				log.Error("netlink subscription cannot be made again; retrying", "what", what, "err", err)
			}
			log.Warn("netlink subscription made again after a failure", "what", what)
			if resync != nil && !send(*resync) {
				cur.stop()
				return
			}
		}
	}()
	return out, nil
}
