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

// readLines runs keepalived's line reading on src and returns the lines
// it gives the parser, words joined by one space.
func readLines(t *testing.T, src, configID string) []string {
	t.Helper()
	dir := writeFiles(t, map[string]string{"k.conf": src})
	p := &kaParser{opt: KAOptions{ConfigID: configID}, params: map[string]string{}, seen: map[string]bool{}}
	var toks []token
	if err := p.read(filepath.Join(dir, "k.conf"), &toks, 0); err != nil {
		t.Fatal(err)
	}
	var lines, words []string
	for _, tk := range toks {
		if tk.word == "\n" {
			lines = append(lines, strings.Join(words, " "))
			words = nil
			continue
		}
		words = append(words, tk.word)
	}
	return lines
}

// The examples of keepalived.conf(5)'s "Parameter substitution",
// "Pre-defined definitions" and "Sequence blocks", and what it says they
// produce.
func TestKeepalivedParameterRules(t *testing.T) {
	for _, c := range []struct {
		name, src, id string
		want          []string
	}{
		{"recursive, at use", "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n", "",
			[]string{"10.2.0.100/32", "10.2.10.100/32"}},
		{"$NAME only before whitespace", "$HOST=lb1\n$NUM=7\nmisc_path \"/x $HOSTNAME\" $HOST\nip 10.0.$NUM.1 $NUM\n", "",
			[]string{"misc_path /x $HOSTNAME lb1", "ip 10.0.$NUM.1 7"}},
		{"undefined stays", "x ${UNDEF} $UNDEF\n", "", []string{"x ${UNDEF} $UNDEF"}},
		{"conditional definitions", "@main $PRIORITY=240\n@backup $PRIORITY=200\npriority $PRIORITY\n", "main", []string{"priority 240"}},
		{"a conditional from a parameter", "$IF_MAIN=@main\n$IF_MAIN priority 240\n$IF_MAIN weight 2\n", "main", []string{"priority 240", "weight 2"}},
		{"a conditional from a parameter, other id", "$IF_MAIN=@main\n$IF_MAIN priority 240\n", "backup", nil},
		{"blank lines inside a multiline value", "$RS= \\\nreal_server 1.1.1.${N} 80 { \\\n  weight 1 \\\n\n  inhibit_on_failure \\\n}\n$N=5\n$RS\n", "",
			[]string{"real_server 1.1.1.5 80 {", "weight 1", "inhibit_on_failure", "}"}},
		{"a guarded multiline definition", "@other $X= \\\n a \\\n b\n@main $Y= \\\n c \\\n d\n$X\n$Y\n", "main",
			[]string{"$X", "c", "d"}},
		{"sequence", "~SEQ(SUBNET, 0, 3) ip_address 10.0.${SUBNET}.1\n", "",
			[]string{"ip_address 10.0.0.1", "ip_address 10.0.1.1", "ip_address 10.0.2.1", "ip_address 10.0.3.1"}},
		{"hex sequence", "~SEQx(S, 0x90, 0x10, 0xc0) ip fe80::20:${S}:1\n", "",
			[]string{"ip fe80::20:90:1", "ip fe80::20:a0:1", "ip fe80::20:b0:1", "ip fe80::20:c0:1"}},
		{"short sequences", "~SEQ(A, 2) a$A ${A}\n~SEQ(B, -2) b ${B}\n", "", []string{"a1 1", "a2 2", "b -1", "b -2"}},
		{"pre-defined", "a ${_HASH} ${_BANG} ${_INSTANCE}\n", "lb9", []string{"a # ! lb9"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := readLines(t, c.src, c.id)
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
	dir := writeFiles(t, map[string]string{"sub/k.conf": "p ${_PWD}\n", "k.conf": "include sub/k.conf\n"})
	p := &kaParser{params: map[string]string{}, seen: map[string]bool{}}
	var toks []token
	if err := p.read(filepath.Join(dir, "k.conf"), &toks, 0); err != nil || len(toks) < 2 || toks[1].word != filepath.Join(dir, "sub") {
		t.Errorf("${_PWD} in an included file: %v %v", toks, err)
	}
}
