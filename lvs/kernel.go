package lvs

import (
	"errors"

	"github.com/cloudflare/ipvs"
)

// ErrNoIPVS means the kernel has no IPVS (the ip_vs module is not
// loaded, or not built).
var ErrNoIPVS = errors.New("IPVS is not available in this kernel: load it with `modprobe ip_vs` (and the scheduler modules, such as `modprobe ip_vs_wrr`)")

// Kernel is one network namespace's IPVS table. Its methods are called
// from one goroutine at a time (the reconciler's), except ReadStats.
type Kernel interface {
	// Read returns the whole table.
	Read() (Table, error)
	// Write carries out ops in order and returns, for each, nil or why
	// it failed. Later ops run even when earlier ones fail.
	Write(ops []Op) []error
	// ReadStats returns the table with the kernel's counters and rates.
	// It may be called from any goroutine, alongside the other methods
	// (OpenKernel's has a connection of its own for it): the status and
	// metrics read the table without holding up the reconciler's writes.
	ReadStats() ([]ServiceStats, error)
	// ReadServiceStats is ReadStats for one service (nil when the kernel
	// has none with key), as cheap as its destinations are few; it too
	// may run alongside the other methods.
	ReadServiceStats(key ServiceKey) (*ServiceStats, error)
	Config() (ipvs.Config, error)
	SetConfig(ipvs.Config) error
	Close() error
}

// SyncKernel is one network namespace's IPVS connection-sync daemons.
type SyncKernel interface {
	// Daemons lists the running daemons (ipvsadm -L --daemon).
	Daemons() ([]SyncDaemon, error)
	// Start starts a daemon; the interface must exist. Starting a role
	// that already runs fails with os.ErrExist.
	Start(SyncDaemon) error
	// Stop stops the daemon of a role; os.ErrNotExist when none runs.
	Stop(SyncState) error
	Close() error
}

// Sysctls reads and writes this network namespace's net.ipv4.vs.*
// settings (Documentation/networking/ipvs-sysctl.rst), each a string as
// /proc/sys shows it.
type Sysctls interface {
	Get(name string) (string, error)
	Set(name, value string) error
}
