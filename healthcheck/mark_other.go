//go:build !linux

package healthcheck

import "errors"

// setMark fails: socket marks are Linux's.
func setMark(uintptr, uint32) error { return errors.New("socket marks need Linux") }
