package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"directord/internal/lab"
)

// getFrom sends one HTTP/1.0 request to the VIP from the client's local
// port and returns who answered. The server closes first, so the port
// is free again at once (no TIME_WAIT on the client), as a client's
// kernel may hand it out again while the director still holds the
// entry of the last connection from it.
func getFrom(client *lab.Host, port int) (string, error) {
	var who string
	err := client.NS.Do(func() error {
		d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: client.Addr.AsSlice(), Port: port}}
		var c net.Conn
		var err error
		// The last connection from the port may still be closing.
		for range 20 {
			if c, err = d.Dial("tcp", lab.VIP.String()+":80"); !errors.Is(err, syscall.EADDRINUSE) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := fmt.Fprint(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n"); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, body, ok := strings.Cut(string(b), "\r\n\r\n")
		if !ok {
			return fmt.Errorf("no HTTP response: %q", b)
		}
		who = strings.TrimSpace(body)
		return nil
	})
	return who, err
}

// portTo finds a client port whose connection the director sent to
// real (wrr spreads them; at most 40 tries).
func portTo(client *lab.Host, real string) (int, error) {
	for port := 41000; port < 41080; port += 2 {
		if who, err := getFrom(client, port); err == nil && who == real {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no connection from ports 41000-41078 went to %s", real)
}
