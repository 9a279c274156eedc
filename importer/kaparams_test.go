package importer

import (
	"path/filepath"
	"strings"
	"testing"

	"directord/config"
)

// Multiline parameters as keepalived.conf(5) shows them: a definition
// whose lines end in "\", used alone on a line, expanded with the values
// its ${PARAMS} have where it is used, conditionals inside applied, and
// nested (a server's definition inside the virtual server's).
func TestImportKeepalivedMultilineParams(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"keepalived.conf": `$INSTANCE= \
vrrp_instance VI_${NUM} { \
    interface eth0 \
    virtual_router_id ${NUM} \
    @lb1 priority 150 \
    @^lb1 priority 100 \
    advert_int 1 \
    virtual_ipaddress { \
        10.0.${NUM}.100/32 \
    } \
}
$RS= \
real_server 10.0.${NUM}.${RS_NUM} 80 { \
    TCP_CHECK { \
        connect_timeout 2 \
    } \
}
$VS= \
virtual_server 10.0.${NUM}.100 80 { \
    lb_algo rr \
    lb_kind DR \
    $RS_NUM=11 \
    $RS \
    $RS_NUM=12 \
    $RS \
}

$NUM=1
$INSTANCE
$VS
$NUM=2
$INSTANCE
$VS
`,
		"loop.conf": "$A= \\\n x $A\n$A\n",
	})
	root, notes, err := ParseKeepalived(filepath.Join(dir, "keepalived.conf"), KAOptions{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	out, sum := RenderKeepalived(root, notes)
	t.Logf("%s\n%s", out, sum)
	cfg, err := config.Parse("imported.hcl", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(cfg.Instances) != 2 || len(cfg.VirtualServers) != 2 {
		t.Fatalf("%d instances, %d virtual servers, want 2 and 2", len(cfg.Instances), len(cfg.VirtualServers))
	}
	for i, in := range cfg.Instances {
		if int(in.VRID) != i+1 || in.Priority != 150 || len(in.VirtualIPs) != 1 || in.VirtualIPs[0].Prefix.Addr().String() != "10.0."+string(rune('1'+i))+".100" {
			t.Errorf("instance %d: %+v", i, in)
		}
	}
	var reals []string
	for _, vs := range cfg.VirtualServers {
		for _, r := range vs.RealServers {
			reals = append(reals, r.Address.String())
		}
	}
	if got := strings.Join(reals, " "); got != "10.0.1.11 10.0.1.12 10.0.2.11 10.0.2.12" {
		t.Errorf("reals %s", got)
	}

	if _, _, err := ParseKeepalived(filepath.Join(dir, "loop.conf"), KAOptions{}); err == nil || !strings.Contains(err.Error(), "more than 16 deep") {
		t.Errorf("a parameter that uses itself: %v", err)
	}
}
