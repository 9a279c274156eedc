package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"directord/vrrp"
)

// StatusDoc is what GET /v1/status returns.
type StatusDoc struct {
	RouterID string      `json:"router_id"`
	Started  time.Time   `json:"started"`
	Config   ConfigInfo  `json:"config"`
	VRRP     vrrp.Status `json:"vrrp"`
}

// ConfigInfo identifies the running configuration.
type ConfigInfo struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// serveStatus listens on the status socket: a unix socket readable by
// root only, since the API will also take commands.
func (d *Daemon) serveStatus() (*http.Server, error) {
	path := d.cfg.Director.StatusSocket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	// A socket file left by a killed daemon would make listen fail.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", d.handleStatus)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("status socket stopped", "err", err)
		}
	}()
	return srv, nil
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	vs, err := d.router.Status(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	doc := StatusDoc{
		RouterID: d.cfg.Director.RouterID,
		Started:  d.started,
		Config:   ConfigInfo{Path: d.cfg.Path, SHA256: d.cfg.SHA256},
		VRRP:     vs,
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}
