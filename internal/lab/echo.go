package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EchoPort is where the real servers' echo service listens: a line in, the
// real's name and the line out. Long-lived connections to it show whether
// established connections survive a failover.
const EchoPort = 7

// echoServer is a real's echo service.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// StartEcho starts the real's echo service on EchoPort, on every address
// of its namespace (the VIP on lo for DR, its own for NAT).
func (r *Real) StartEcho() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.echo != nil {
		return nil
	}
	var ln net.Listener
	err := r.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":"+strconv.Itoa(EchoPort))
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: echo listen: %w", r.Name, err)
	}
	e := &echoServer{ln: ln, conns: map[net.Conn]bool{}}
	r.echo = e
	go e.serve(r.Name)
	return nil
}

// StopEcho closes the echo service and every connection to it.
func (r *Real) StopEcho() {
	r.mu.Lock()
	e := r.echo
	r.echo = nil
	r.mu.Unlock()
	if e == nil {
		return
	}
	e.ln.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.Close()
	}
}

func (e *echoServer) serve(name string) {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		e.conns[c] = true
		e.mu.Unlock()
		go func() {
			defer func() {
				c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
			}()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := fmt.Fprintf(c, "%s %s\n", name, sc.Text()); err != nil {
					return
				}
			}
		}()
	}
}

// LongConn is one connection of a ConnClient and what became of it.
type LongConn struct {
	Src      netip.Addr
	Local    netip.AddrPort // the client's end
	Real     string         // who answered the first line
	Answered int            // lines echoed
	Broken   string         // why it broke ("reset", "stall", "closed", "moved", ...); "" while it works
	BrokeAt  time.Time
}

// ConnClient holds long-lived connections through the VIP, each sending a
// line every interval and expecting its echo: the downloads, websockets
// and database sessions a failover must not cut. A connection counts as
// broken on a reset, a close, an answer from another real, or no answer
// for longer than the stall limit.
type ConnClient struct {
	host     *Host
	dst      netip.AddrPort
	interval time.Duration
	stall    time.Duration

	mu     sync.Mutex
	conns  []*LongConn
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// OpenConns opens n connections from h to dst, round robin over the
// source addresses srcs, and starts talking on each. It fails unless
// every connection opens and answers its first line.
func OpenConns(h *Host, srcs []netip.Addr, dst netip.AddrPort, n int, interval, stall time.Duration) (*ConnClient, error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &ConnClient{host: h, dst: dst, interval: interval, stall: stall, cancel: cancel}
	for i := range n {
		src := srcs[i%len(srcs)]
		conn, rd, real, err := c.dial(src)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("connection %d from %s: %w", i+1, src, err)
		}
		local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
		lc := &LongConn{Src: src, Local: netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), Real: real, Answered: 1}
		c.conns = append(c.conns, lc)
		c.wg.Add(1)
		go c.talk(ctx, conn, rd, lc)
	}
	return c, nil
}

// dial connects from src and checks the first echo.
func (c *ConnClient) dial(src netip.Addr) (net.Conn, *bufio.Reader, string, error) {
	var conn net.Conn
	err := c.host.NS.Do(func() error {
		d := net.Dialer{Timeout: c.stall, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		var err error
		conn, err = d.Dial("tcp4", c.dst.String())
		return err
	})
	if err != nil {
		return nil, nil, "", err
	}
	rd := bufio.NewReader(conn)
	real, err := exchange(conn, rd, 0, c.stall)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	return conn, rd, real, nil
}

// exchange sends line seq and returns the name of the real that echoed it.
func exchange(conn net.Conn, rd *bufio.Reader, seq int, stall time.Duration) (string, error) {
	if err := conn.SetDeadline(time.Now().Add(stall)); err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(conn, "%d\n", seq); err != nil {
		return "", err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	name, got, ok := strings.Cut(strings.TrimSpace(line), " ")
	if !ok || got != strconv.Itoa(seq) {
		return "", fmt.Errorf("garbled answer %q to line %d", line, seq)
	}
	return name, nil
}

func (c *ConnClient) talk(ctx context.Context, conn net.Conn, rd *bufio.Reader, lc *LongConn) {
	defer c.wg.Done()
	defer conn.Close()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		real, err := exchange(conn, rd, seq, c.stall)
		if ctx.Err() != nil {
			return
		}
		why := ""
		switch {
		case err != nil:
			why = breakReason(err)
		case real != lc.Real:
			why = "moved to " + real
		}
		c.mu.Lock()
		if why != "" {
			lc.Broken, lc.BrokeAt = why, time.Now()
		} else {
			lc.Answered++
		}
		c.mu.Unlock()
		if why != "" {
			return
		}
	}
}

func breakReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "stall"
	case errors.Is(err, io.EOF):
		return "closed"
	}
	return err.Error()
}

// Conns returns a copy of every connection's state.
func (c *ConnClient) Conns() []LongConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]LongConn, len(c.conns))
	for i, lc := range c.conns {
		out[i] = *lc
	}
	return out
}

// Kept counts the connections that still work.
func (c *ConnClient) Kept() (kept, total int) {
	for _, lc := range c.Conns() {
		if lc.Broken == "" {
			kept++
		}
		total++
	}
	return kept, total
}

// Close ends every connection.
func (c *ConnClient) Close() {
	c.cancel()
	c.wg.Wait()
}

// RealOf maps each source address to the real its connections reached,
// or to "mixed" when they reached several.
func RealOf(conns []LongConn) map[netip.Addr]string {
	m := map[netip.Addr]string{}
	for _, lc := range conns {
		if r, ok := m[lc.Src]; ok && r != lc.Real {
			m[lc.Src] = "mixed"
		} else if !ok {
			m[lc.Src] = lc.Real
		}
	}
	return m
}
