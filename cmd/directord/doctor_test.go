package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// doctor --json: one object per check; the exit status is the worst
// verdict (a missing interface fails: 2).
func TestDoctorCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.hcl")
	src := "vrrp_instance \"v\" {\n  interface = \"nosuch0\"\n  virtual_router_id = 7\n  virtual_ips = [\"192.0.2.10/24\"]\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "doctor", "--config", path, "--json")
	if code != 2 {
		t.Errorf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	var fs []struct{ Check, Status, Detail, Fix string }
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	found := false
	for _, f := range fs {
		if f.Check == "interface nosuch0" {
			found = f.Status == "fail" && f.Fix != ""
		}
	}
	if !found {
		t.Errorf("no failing check of interface nosuch0 in %+v", fs)
	}
}
