package healthcheck

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"directord/internal/netnstest"
)

// smtpResponder is a tiny SMTP server: it sends banner, answers HELO
// with helo (recording the name it was given) and QUIT with 221. An empty
// banner sends nothing; an empty helo closes the connection instead.
type smtpResponder struct {
	banner, helo string
	mu           sync.Mutex
	said         []string
}

func (s *smtpResponder) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *smtpResponder) session(c net.Conn) {
	defer c.Close()
	if s.banner == "" {
		time.Sleep(2 * time.Second)
		return
	}
	c.Write([]byte(s.banner))
	rd := bufio.NewReader(c)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.said = append(s.said, line)
		s.mu.Unlock()
		switch {
		case strings.HasPrefix(line, "HELO ") && s.helo == "":
			return
		case strings.HasPrefix(line, "HELO "):
			c.Write([]byte(s.helo))
		case line == "QUIT":
			c.Write([]byte("221 bye\r\n"))
			return
		}
	}
}

func (s *smtpResponder) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.said...)
}

// An smtp check against responders in another network namespace, as
// keepalived's SMTP_CHECK: a 2xx banner (multi-line too), HELO with the
// configured name, a 2xx reply, QUIT. A refusing banner or HELO is down
// with the server's words, silence is a timeout, a closed port refused.
func TestSMTPInNamespaces(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"cli": "10.77.0.1/24", "srv": "10.77.0.2/24"})
	good := &smtpResponder{banner: "220-mx.example.test ESMTP\r\n220 ready\r\n", helo: "250 mx.example.test hello\r\n"}
	responders := map[string]*smtpResponder{
		"10.77.0.2:25": good,
		"10.77.0.2:26": {banner: "554 no service here\r\n"},
		"10.77.0.2:27": {banner: "220 ready\r\n", helo: "501 bad HELO\r\n"},
		"10.77.0.2:28": {},
		"10.77.0.2:29": {banner: "220 ready\r\n"},
		"10.77.0.2:31": {banner: "220 " + strings.Repeat("x", 100<<10)},
	}
	err := lan.Hosts["srv"].NS.Do(func() error {
		for addr, r := range responders {
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				return err
			}
			t.Cleanup(func() { l.Close() })
			go r.serve(l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	err = lan.Hosts["cli"].NS.Do(func() error {
		for _, a := range []string{"10.77.0.2:25", "10.77.0.2:26", "10.77.0.2:27", "10.77.0.2:28", "10.77.0.2:29", "10.77.0.2:30", "10.77.0.2:31"} {
			// Short for the silent server, long enough for the others
			// on a loaded machine (the first SYN waits for ARP too).
			timeout := 2 * time.Second
			if a == "10.77.0.2:28" {
				timeout = 300 * time.Millisecond
			}
			got[a] = check(t, Spec{Type: TypeSMTP, Target: addrPort(t, a), Timeout: timeout, Params: &Params{HeloName: "lb1.example.test"}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, got["10.77.0.2:25"], true, "HELO accepted")
	expect(t, got["10.77.0.2:26"], false, "banner: 554 no service here")
	expect(t, got["10.77.0.2:27"], false, "HELO: 501 bad HELO")
	expect(t, got["10.77.0.2:28"], false, "banner: timeout")
	expect(t, got["10.77.0.2:29"], false, "HELO: connection closed")
	expect(t, got["10.77.0.2:30"], false, "refused")
	// 100 KiB without a line end: read up to the limit, not to the
	// timeout.
	expect(t, got["10.77.0.2:31"], false, "banner: replies longer than 65536 bytes")
	if l := got["10.77.0.2:31"].Latency; l > 250*time.Millisecond {
		t.Errorf("an endless banner took %s, want it cut at the read limit", l)
	}
	deadline := time.Now().Add(time.Second)
	for len(good.commands()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if cmds := good.commands(); len(cmds) != 2 || cmds[0] != "HELO lb1.example.test" || cmds[1] != "QUIT" {
		t.Errorf("the server heard %q, want HELO lb1.example.test then QUIT", cmds)
	}
}
