package vrrp

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// A subscription the library closes (ENOBUFS) is made again, and the
// reader is told to resync; before, the stream ended with it.
func TestFollowResubscribes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		subscribe := func(ch chan int, done <-chan struct{}, onErr func(error)) error {
			calls++
			n := calls
			go func() {
				ch <- n * 10
				if n == 1 {
					onErr(syscall.ENOBUFS)
					close(ch)
					return
				}
				<-done
				close(ch)
			}()
			return nil
		}
		resync := -1
		out, err := follow(ctx, slog.New(slog.DiscardHandler), "test", subscribe, func(u int) (int, bool) { return u, true }, &resync)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for range 3 {
			select {
			case v := <-out:
				got = append(got, v)
			case <-time.After(time.Second):
				t.Fatalf("stream stalled after %v", got)
			}
		}
		if want := []int{10, -1, 20}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		cancel()
		if _, open := <-out; open {
			t.Error("stream still open after ctx ended")
		}
	})
}

func TestFollowFirstSubscribeError(t *testing.T) {
	_, err := follow(context.Background(), slog.New(slog.DiscardHandler), "test",
		func(chan int, <-chan struct{}, func(error)) error { return errors.New("no netlink") },
		func(u int) (int, bool) { return u, true }, nil)
	if err == nil {
		t.Error("a failed first subscription was not reported")
	}
}
