// Package doctor checks a machine against a configuration before
// directord runs there: what keepalived users otherwise find out when
// VRRP stays silent or a service refuses connections.
//
// Each check gives a Finding (ok, warn or fail) with the command that
// fixes it. The checks are pure functions of an Input (what the
// configuration asks for, in doctor's own terms) and a Host (the files
// under /proc and /sys, and the interfaces), so they are tested with a
// fake host and, on Linux, against a real one in network namespaces
// (linux.go).
package doctor
