// Package nldump reads a netlink dump again when the kernel interrupted
// it.
//
// The kernel sends a dump (addresses, routes, rules) in several messages;
// when the table changes between two of them it flags the rest
// NLM_F_DUMP_INTR, and vishvananda/netlink (from 1.2) returns what it read
// with netlink.ErrDumpInterrupted. That may miss entries or repeat them,
// so nothing is decided from it: the dump is read again, a bounded number
// of times. A director's tables change while it reads them (keepalived,
// another directord, the operator, DHCP), so this is a matter of when, not
// whether: one CI run saw a director refuse to start on it.
package nldump

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// Attempts bounds the reads: a table that changes faster than it can be
// read is an error, not a loop.
const Attempts = 10

// Retry calls dump until it returns something other than an interrupted
// dump, at most Attempts times.
func Retry[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range Attempts {
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, fmt.Errorf("%w %d times in a row", err, Attempts)
}
