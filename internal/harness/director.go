package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/lab"
	"directord/internal/labnet"
)

// Director is one directord process in a namespace, with test helpers
// around lab's process and status client.
type Director struct {
	*lab.Process
	lab.StatusClient
	Name   string
	Port   *labnet.Port // its eth0 on the LAN
	Dir    string       // config, socket and log live here
	Config string       // path of the HCL file
	// DirectorExtra are more lines for the director block WriteConfig
	// writes (script_user = "nobody").
	DirectorExtra []string
}

// NewDirector prepares a director in the port's namespace; Start runs it.
func NewDirector(tb testing.TB, bin, name string, port *labnet.Port) *Director {
	tb.Helper()
	dir := tb.TempDir()
	d := &Director{
		Name:         name,
		Port:         port,
		Dir:          dir,
		Config:       filepath.Join(dir, name+".hcl"),
		StatusClient: lab.StatusClient{Socket: filepath.Join(dir, name+".sock")},
	}
	d.Process = &lab.Process{Name: name, NS: port.NS, Argv: []string{bin, "run", "--config", d.Config}}
	tb.Cleanup(func() {
		d.Kill()
		if tb.Failed() {
			tb.Logf("log of %s:\n%s", name, d.Log())
		}
	})
	return d
}

// NS is the director's namespace.
func (d *Director) NS() *labnet.NS { return d.Port.NS }

// WriteConfig writes the director's HCL; a director block naming the
// status socket, with JSON logs at debug level, goes in front of body.
func (d *Director) WriteConfig(tb testing.TB, body string) {
	tb.Helper()
	head := fmt.Sprintf("director {\n  router_id = %q\n  status_socket = %q\n  log_format = \"json\"\n  log_level = \"debug\"\n", d.Name, d.Socket)
	for _, l := range d.DirectorExtra {
		head += "  " + l + "\n"
	}
	head += "}\n\n"
	if err := os.WriteFile(d.Config, []byte(head+body), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Start runs `directord run` and waits until its status socket answers.
func (d *Director) Start(tb testing.TB) {
	tb.Helper()
	if err := d.Process.Start(); err != nil {
		tb.Fatal(err)
	}
	// Generous: a 40 MB binary pages in slowly in a loaded one-CPU UML
	// guest (a BGP director restarted under 200 flows once took 10 s).
	if err := lab.WaitReady(d.Process, d.StatusClient, 30*time.Second); err != nil {
		tb.Fatal(err)
	}
}

// Stop sends SIGTERM and waits for the exit; it fails tb if the daemon
// does not exit 0 within timeout.
func (d *Director) Stop(tb testing.TB, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	ld := lab.Director{Host: &lab.Host{Name: d.Name}, Process: d.Process}
	if err := ld.Term(timeout); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// Status reads the status socket, failing tb on error.
func (d *Director) Status(tb testing.TB) daemon.StatusDoc {
	tb.Helper()
	doc, err := d.StatusClient.Status()
	if err != nil {
		tb.Fatalf("%s status: %v", d.Name, err)
	}
	return doc
}

// TryStatus reads the status socket once.
func (d *Director) TryStatus() (daemon.StatusDoc, error) { return d.StatusClient.Status() }

// WaitState waits until the instance is in state.
func (d *Director) WaitState(tb testing.TB, instance, state string, timeout time.Duration) time.Time {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if d.State(instance) == state {
			return time.Now()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: instance %s is %q, not %s, after %s", d.Name, instance, d.State(instance), state, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// HasAddr reports whether addr is on one of the director's interfaces.
func (d *Director) HasAddr(tb testing.TB, addr string) bool {
	tb.Helper()
	out, err := d.NS().Run("ip", "-o", "addr", "show")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Contains(out, " "+addr+"/")
}

// LogLines returns the JSON log records whose msg is msg.
func (d *Director) LogLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.Log()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
