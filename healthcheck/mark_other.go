//go:build !linux

package healthcheck

import "errors"

// setMark fails: socket marks are Linux's.
func setMark(uintptr, uint32) error { return errors.New("socket marks need Linux") }

// setNoPort does nothing: the option is Linux's.
func setNoPort(uintptr) error { return nil }
