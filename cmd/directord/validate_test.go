package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestValidateExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*/*.hcl")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		code, out, errOut := runCLI(t, "validate", "--config", f)
		if code != 0 || !strings.Contains(out, "valid") {
			t.Errorf("validate %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

func TestValidateJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "validate", "--json", "--config", "../../examples/seed-dr/lb1.hcl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v struct {
		Instances []struct {
			Priority       int    `json:"priority"`
			AdvertInterval string `json:"advert_interval"`
			GARP           struct {
				Delay string `json:"delay"`
			} `json:"garp"`
		} `json:"vrrp_instances"`
		VirtualServers []struct {
			RealServers []struct {
				Weight      int `json:"weight"`
				HealthCheck struct {
					Fall int `json:"fall"`
				} `json:"health_check"`
			} `json:"real_servers"`
		} `json:"virtual_servers"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if v.Instances[0].Priority != 150 || v.Instances[0].AdvertInterval != "1s" || v.Instances[0].GARP.Delay != "5s" {
		t.Errorf("instance: %+v", v.Instances[0])
	}
	if rs := v.VirtualServers[0].RealServers; len(rs) != 2 || rs[1].Weight != 4 || rs[1].HealthCheck.Fall != 3 {
		t.Errorf("reals: %+v", rs)
	}
}

func TestValidateInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.hcl")
	src := `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 0
  priority = 300
  virtual_ips = ["10.0.0.1"]
}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "validate", "--config", path)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{path + ":3:23:", path + ":4:14:", "   4:   priority = 300", "(2 errors)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if out != "" {
		t.Errorf("stdout should be empty for an invalid config, got %q", out)
	}
}

func TestValidateUnreadable(t *testing.T) {
	code, _, errOut := runCLI(t, "validate", "--config", filepath.Join(t.TempDir(), "none.hcl"))
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("exit %d, stderr %q; want 1 and the os error", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "directord ") {
		t.Fatalf("exit %d, out %q", code, out)
	}
}

func TestUnknownSubcommand(t *testing.T) {
	if code, _, _ := runCLI(t, "frobnicate"); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
}
