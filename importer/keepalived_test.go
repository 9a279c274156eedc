package importer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"directord/config"
)

const samples = "/usr/share/doc/keepalived/samples"

// Every sample keepalived ships (Debian's keepalived package) imports
// without a crash, and directord validate accepts what comes out.
func TestKeepalivedSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(samples, "keepalived.conf.*"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no keepalived samples in %s (scripts/deps.sh installs keepalived)", samples)
		}
		t.Skipf("no keepalived samples in %s", samples)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			root, notes, err := ParseKeepalived(f, KAOptions{ConfigID: "high"})
			if err != nil {
				t.Fatal(err)
			}
			out, sum := RenderKeepalived(root, notes)
			if _, err := config.Parse("imported.hcl", out); err != nil {
				var de *config.DiagnosticsError
				msg := err.Error()
				if errors.As(err, &de) {
					var b strings.Builder
					_ = de.Write(&b, false)
					msg = b.String()
				}
				t.Errorf("directord does not accept the import (%s):\n%s\n%s", sum, msg, out)
			}
		})
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, src := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// include with a glob relative to the including file, $PARAMS, comments,
// quotes and conditional lines, as keepalived reads them; the checker
// timings map to directord's names; VRRPv2 is said when keepalived's
// default applies; a group expands to its members.
func TestImportKeepalived(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"keepalived.conf": `! top
$VIP=192.168.11.100
$PORT=80
global_defs {
  router_id lb1   # a comment
  lvs_sync_daemon eth1 VI_1 id 7
}
lvs_timeouts tcp 900 tcpfin 30 udp 60
include conf.d/*.conf
@lb1 vrrp_script chk { 
@^lb1 vrrp_script other {
}
`,
		"conf.d/10-vrrp.conf": `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 0.5
  state MASTER
  virtual_ipaddress {
    ${VIP}/32 dev eth0 label eth0:1 scope global
  }
  notify_master "/usr/local/bin/became master"
}
`,
		"conf.d/20-lvs.conf": `virtual_server_group web {
  $VIP $PORT
  10.0.0.1-3 8080
}
virtual_server group web {
  delay_loop 10
  lb_algo wrr
  lb_kind DR
  inhibit_on_failure
  real_server 192.168.11.12 $PORT {
    weight 2
    TCP_CHECK {
      connect_timeout 3
      retry 4
      delay_before_retry 2
      connect_port 81
    }
    MISC_CHECK {
      misc_path "/usr/bin/check --deep"
      misc_dynamic
    }
  }
}
`,
	})
	root, notes, err := ParseKeepalived(filepath.Join(dir, "keepalived.conf"), KAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, sum := RenderKeepalived(root, notes)
	t.Logf("%s\n%s", out, sum)
	// hclwrite aligns the equals signs; compare with single spaces.
	s := strings.Join(strings.Fields(string(out)), " ")
	for _, want := range []string{
		`router_id = "lb1"`,
		`["192.168.11.100/32 dev eth0 label eth0:1"]`,
		`scope global left out`,
		`version = 2`,
		`advert_interval = "1s"`, `500ms rounded up to 1s: VRRPv2 carries whole seconds`,
		`port 80 left out`,
		`state: every instance starts as backup`,
		`master = ["/usr/local/bin/became", "master"]`,
		`virtual_server "web_tcp_192_168_11_100_80"`,
		`virtual_server "web_tcp_10_0_0_3_8080"`,
		`health_check "tcp"`, `interval = "10s"`, `timeout = "3s"`, `fall = 5`, `retry_delay = "2s"`, `connect_port = 81`,
		`command = ["/usr/bin/check", "--deep"]`, `dynamic_weight = true`,
		`sync_id = 7`, `tcp_timeout = "15m0s"`,
		`conditional line for config id "lb1" dropped`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(s, `on_failure`) {
		t.Error("inhibit_on_failure is directord's default, yet on_failure is set")
	}
	cfg, err := config.Parse("imported.hcl", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(cfg.VirtualServers) != 4 || cfg.IPVS.SyncDaemon == nil || cfg.IPVS.SyncDaemon.SyncID != 7 {
		t.Errorf("%d services, sync daemon %+v", len(cfg.VirtualServers), cfg.IPVS.SyncDaemon)
	}
	if sum.Instances != 1 || sum.Services != 1 || sum.Reals != 4 || sum.Checks != 8 {
		t.Errorf("summary %+v", sum)
	}

	// With the config id, its conditional lines apply and the others go.
	root, _, err = ParseKeepalived(filepath.Join(dir, "keepalived.conf"), KAOptions{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	var scripts []string
	for _, n := range root.Children {
		if n.Key == "vrrp_script" {
			scripts = append(scripts, arg(n))
		}
	}
	if strings.Join(scripts, ",") != "chk" {
		t.Errorf("vrrp_scripts with -i lb1: %v, want chk", scripts)
	}
}

func TestImportKeepalivedErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"loop.conf": "include loop.conf\n",
	})
	if _, _, err := ParseKeepalived(filepath.Join(dir, "loop.conf"), KAOptions{}); err == nil || !strings.Contains(err.Error(), "included twice") {
		t.Errorf("an include loop: %v", err)
	}
	if _, _, err := ParseKeepalived(filepath.Join(dir, "nosuch.conf"), KAOptions{}); err == nil {
		t.Error("a missing file was read")
	}
}

// examples/keepalived/directord.hcl is what the import makes of the
// keepalived.conf beside it (run from the repository's root).
func TestKeepalivedExample(t *testing.T) {
	root, notes, err := ParseKeepalived("../examples/keepalived/keepalived.conf", KAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := RenderKeepalived(root, notes)
	want, err := os.ReadFile("../examples/keepalived/directord.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(out), "../examples/", "examples/"); got != string(want) {
		t.Errorf("the example is not the import's output; run\n  go run ./cmd/directord import keepalived examples/keepalived/keepalived.conf > examples/keepalived/directord.hcl\ngot:\n%s", got)
	}
}

// Whatever a keepalived.conf holds, the import returns an error or HCL
// that parses (it may still fail validation).
func FuzzImportKeepalived(f *testing.F) {
	for _, s := range []string{
		"vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.1/24 dev eth0\n  }\n}\n",
		"$X=1\n@a vrrp_script s {\n@^a }\nvirtual_server group g {\n real_server 1.2.3.4 80 {\n  HTTP_GET {\n   url { path / }\n  }\n }\n}\nvirtual_server_group g {\n 10.0.0.1-3 80\n}\n",
		"@\n}\n{\n\"unclosed\n",
		"$R= \\\nreal_server 10.0.0.${N} 80 { \\\n @a weight 2 \\\n}\n$V= \\\nvirtual_server 10.0.0.1 80 { \\\n $N=2 \\\n $R \\\n}\n$V\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		path := filepath.Join(t.TempDir(), "k.conf")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		root, notes, err := ParseKeepalived(path, KAOptions{ConfigID: "a"})
		if err != nil {
			return
		}
		out, _ := RenderKeepalived(root, notes)
		if _, diags := hclsyntax.ParseConfig(out, "f.hcl", hcl.InitialPos); diags.HasErrors() {
			t.Fatalf("the import is not HCL: %v\n%s", diags, out)
		}
	})
}
