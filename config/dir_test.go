package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, src := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A directory is one configuration from all its *.hcl files: a local of
// one file is seen in another, files that are not *.hcl are not read,
// and a change to any file changes the digest.
func TestLoadDirectory(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"00-plan.hcl": "locals {\n  vip = \"10.0.0.100\"\n}\ndirector {\n  router_id = \"lb1\"\n}\n",
		"web.hcl":     "virtual_server \"web\" {\n  address = local.vip\n  port = 80\n}\n",
		"dns.hcl":     "virtual_server \"dns\" {\n  address = local.vip\n  port = 53\n  protocol = \"udp\"\n}\n",
		"notes.txt":   "not a config",
	})
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != dir || cfg.Director.RouterID != "lb1" || len(cfg.VirtualServers) != 2 {
		t.Fatalf("path %s, router_id %s, %d virtual servers", cfg.Path, cfg.Director.RouterID, len(cfg.VirtualServers))
	}
	for _, vs := range cfg.VirtualServers {
		if vs.Address.String() != "10.0.0.100" {
			t.Errorf("%s at %s", vs.Name, vs.Address)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "dns.hcl"), []byte("virtual_server \"dns\" {\n  address = local.vip\n  port = 5353\n  protocol = \"udp\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.SHA256 == cfg.SHA256 {
		t.Error("a changed file left the digest as it was")
	}
}

// A name declared in two files is an error at the second, naming its file.
func TestLoadDirectoryErrors(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"a.hcl": "virtual_server \"web\" {\n  address = \"10.0.0.1\"\n  port = 80\n}\n",
		"b.hcl": "virtual_server \"web\" {\n  address = \"10.0.0.2\"\n  port = 80\n}\n",
	})
	_, err := Load(dir)
	var de *DiagnosticsError
	if !errors.As(err, &de) || len(de.Diags) != 1 || de.Diags[0].Subject == nil ||
		de.Diags[0].Subject.Filename != filepath.Join(dir, "b.hcl") || !strings.Contains(de.Diags[0].Summary, `virtual_server "web" is declared twice`) {
		t.Errorf("a name in two files: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "has no *.hcl file") {
		t.Errorf("an empty directory: %v", err)
	}
}

// Digest is the SHA-256 Load gives, for a file and for a directory,
// without decoding: a reload compares it with the running one's.
func TestDigestIsLoadsSHA256(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.hcl")
	if err := os.WriteFile(one, []byte("director {\n  router_id = \"a\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "d")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"a.hcl": "director {\n  router_id = \"b\"\n}\n", "b.hcl": "# nothing\n"} {
		if err := os.WriteFile(filepath.Join(sub, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{one, sub} {
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Digest(path)
		if err != nil {
			t.Fatal(err)
		}
		if sum != cfg.SHA256 || sum == "" {
			t.Errorf("%s: Digest %q, Load's SHA256 %q", path, sum, cfg.SHA256)
		}
	}
	before, _ := Digest(sub)
	if err := os.WriteFile(filepath.Join(sub, "b.hcl"), []byte("# something\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if after, _ := Digest(sub); after == before {
		t.Error("a changed comment in one of a directory's files left its digest as it was")
	}
}
