package lvs

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/cloudflare/ipvs"
)

type netlinkKernel struct {
	c     ipvs.Client
	batch *batcher
	// stats is a connection of ReadStats's own: a cloudflare/ipvs client
	// is one netlink socket, not safe for concurrent use, and the
	// status and metrics dump the table from their goroutines while the
	// reconciler writes on c. statsMu serialises the dumps.
	statsMu sync.Mutex
	stats   ipvs.Client
}

// OpenKernel connects to this namespace's IPVS. Reads and single writes
// go through cloudflare/ipvs; plans of several writes are batched;
// ReadStats has a read-only connection of its own.
func OpenKernel() (Kernel, error) {
	c, err := ipvs.New()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoIPVS
		}
		return nil, fmt.Errorf("open IPVS: %w", err)
	}
	k := &netlinkKernel{c: c}
	if k.stats, err = ipvs.New(); err != nil {
		k.Close()
		return nil, fmt.Errorf("open IPVS for statistics: %w", err)
	}
	if k.batch, err = newBatcher(); err != nil {
		k.Close()
		return nil, fmt.Errorf("open IPVS: %w", err)
	}
	return k, nil
}

func (k *netlinkKernel) Close() error {
	// A dump in flight on another goroutine ends first: the socket is
	// not closed under it.
	k.statsMu.Lock()
	defer k.statsMu.Unlock()
	for _, c := range []ipvs.Client{k.c, k.stats} {
		if cl, ok := c.(interface{ Close() error }); ok {
			cl.Close()
		}
	}
	if k.batch == nil {
		return nil
	}
	return k.batch.close()
}

func (k *netlinkKernel) Read() (Table, error) {
	svcs, err := k.c.Services()
	if isEmpty(err) {
		return Table{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read IPVS services: %w", err)
	}
	t := make(Table, len(svcs))
	for _, s := range svcs {
		dests, err := k.c.Destinations(s.Service)
		if err != nil && !isEmpty(err) {
			return nil, fmt.Errorf("read destinations of %s: %w", serviceFromIPVS(s.Service).ServiceKey, err)
		}
		ds := make([]Destination, len(dests))
		for i, d := range dests {
			ds[i] = destFromIPVS(d.Destination)
		}
		e := &Entry{Service: serviceFromIPVS(s.Service), Dests: DestsOf(ds...)}
		t[e.Service.ServiceKey] = e
	}
	return t, nil
}

// isEmpty recognises cloudflare/ipvs's way of saying a dump came back
// empty: os.ErrNotExist.
func isEmpty(err error) bool { return errors.Is(err, os.ErrNotExist) }

// ReadStats dumps the table on its own connection, so that it may run
// alongside the reconciler's reads and writes.
func (k *netlinkKernel) ReadStats() ([]ServiceStats, error) {
	k.statsMu.Lock()
	defer k.statsMu.Unlock()
	return readStats(k.stats)
}

func (k *netlinkKernel) ReadServiceStats(key ServiceKey) (*ServiceStats, error) {
	k.statsMu.Lock()
	defer k.statsMu.Unlock()
	return readServiceStats(k.stats, key)
}

func (k *netlinkKernel) Write(ops []Op) []error {
	var errs []error
	if len(ops) == 1 {
		errs = []error{k.writeOne(ops[0])}
	} else {
		errs = k.batch.write(ops)
	}
	for i, err := range errs {
		if err != nil {
			errs[i] = explain(ops[i], err)
		}
	}
	return errs
}

func (k *netlinkKernel) writeOne(op Op) error {
	s, d := op.Service.toIPVS(), op.Dest.toIPVS()
	switch op.Kind {
	case CreateService:
		return k.c.CreateService(s)
	case UpdateService:
		return k.c.UpdateService(s)
	case DeleteService:
		return k.c.RemoveService(s)
	case CreateDest:
		return k.c.CreateDestination(s, d)
	case UpdateDest:
		return k.c.UpdateDestination(s, d)
	case DeleteDest:
		return k.c.RemoveDestination(s, d)
	}
	return fmt.Errorf("unknown op %d", op.Kind)
}

// explain turns kernel errors into what an operator can act on.
func explain(op Op, err error) error {
	if (op.Kind == CreateService || op.Kind == UpdateService) && errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("%s: scheduler %q is not available in this kernel (module ip_vs_%s): %w", op, op.Service.Scheduler, op.Service.Scheduler, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (k *netlinkKernel) Config() (ipvs.Config, error) { return k.c.Config() }

func (k *netlinkKernel) SetConfig(c ipvs.Config) error { return k.c.SetConfig(c) }
