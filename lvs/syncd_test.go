package lvs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// unhex reads bytes written as hex with spaces and line breaks; on each
// line, the first word that is not hex starts a comment.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var digits strings.Builder
	for _, line := range strings.Split(s, "\n") {
		for _, w := range strings.Fields(line) {
			if strings.Trim(w, "0123456789abcdef") != "" {
				break
			}
			digits.WriteString(w)
		}
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The wire form below is assembled by hand from include/uapi/linux/ip_vs.h
// (attribute numbers) and the kernel's ip_vs_daemon_policy (types):
// little-endian lengths and types, host-order u16/u32, the group in
// network order, the interface NUL-terminated, every attribute padded to
// four bytes.
func TestEncodeDaemonGolden(t *testing.T) {
	d := SyncDaemon{State: SyncMaster, Interface: "eth1", SyncID: 51, MaxLen: 1400,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3}
	got, err := encodeDaemonCmd(SyncOp{Kind: StartDaemon, Daemon: d})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		09 01 00 00                      genl: IPVS_CMD_NEW_DAEMON, version 1
		40 00 03 00                      IPVS_CMD_ATTR_DAEMON, 64 bytes
		  08 00 01 00  01 00 00 00       STATE = 1 (master)
		  09 00 02 00  65 74 68 31 00 000000   MCAST_IFN = "eth1\0"
		  08 00 03 00  33 00 00 00       SYNC_ID = 51
		  06 00 04 00  78 05 0000        SYNC_MAXLEN = 1400
		  08 00 05 00  ef 01 02 03       MCAST_GROUP = 239.1.2.3
		  06 00 07 00  28 23 0000        MCAST_PORT = 9000
		  05 00 08 00  03 000000         MCAST_TTL = 3`)
	if !bytes.Equal(got, want) {
		t.Errorf("NEW_DAEMON\n got %x\nwant %x", got, want)
	}

	got, err = encodeDaemonCmd(SyncOp{Kind: StopDaemon, Daemon: SyncDaemon{State: SyncBackup, Interface: "ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	want = unhex(t, `0a 01 00 00   0c 00 03 00   08 00 01 00 02 00 00 00`)
	if !bytes.Equal(got, want) {
		t.Errorf("DEL_DAEMON\n got %x\nwant %x", got, want)
	}
}

func TestEncodeDaemonDefaultsOmitted(t *testing.T) {
	got, err := encodeDaemonAttrs(SyncDaemon{State: SyncBackup, Interface: "bond0.12"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// State, interface and sync id only: the kernel picks the group,
	// port, TTL and length.
	want := unhex(t, `08 00 01 00 02 00 00 00   0d 00 02 00 62 6f 6e 64 30 2e 31 32 00 000000   08 00 03 00 00 00 00 00`)
	if !bytes.Equal(got, want) {
		t.Errorf("got %x\nwant %x", got, want)
	}
}

func TestEncodeDaemonIPv6Group(t *testing.T) {
	d := SyncDaemon{State: SyncBackup, Interface: "eth0", Group: netip.MustParseAddr("ff02::8848")}
	b, err := encodeDaemonCmd(SyncOp{Kind: StartDaemon, Daemon: d})
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeDaemon(b[4:])
	if err != nil {
		t.Fatal(err)
	}
	if back != d {
		t.Errorf("round trip %+v, want %+v", back, d)
	}
	if !bytes.Contains(b, append([]byte{0x14, 0, daemonAttrMcastGroup6, 0}, d.Group.AsSlice()...)) {
		t.Errorf("no MCAST_GROUP6 attribute in %x", b)
	}
}

func TestEncodeDaemonRefuses(t *testing.T) {
	for _, d := range []SyncDaemon{
		{State: 0, Interface: "eth0"},
		{State: 3, Interface: "eth0"},
		{State: SyncMaster},
		{State: SyncMaster, Interface: "a-very-long-name0"},
		{State: SyncMaster, Interface: "eth0", Group: netip.MustParseAddr("10.0.0.1")},
	} {
		if _, err := encodeDaemonAttrs(d, false); !errors.Is(err, ErrBadDaemon) {
			t.Errorf("%+v: err %v, want ErrBadDaemon", d, err)
		}
	}
}

// A GET_DAEMON answer captured from the 6.1 guest kernel after `ipvsadm
// --start-daemon backup --mcast-interface sync0 --syncid 200
// --sync-maxlen 1200 --mcast-group 239.9.9.9 --mcast-port 7000
// --mcast-ttl 2` (the attributes after the genl header): the kernel
// reports every setting, the group last.
func TestDecodeDaemonKernelAnswer(t *testing.T) {
	msg := unhex(t, `
		40 00 03 00
		  08 00 01 00 02 00 00 00          STATE backup
		  0a 00 02 00 73 79 6e 63 30 00 00 00   MCAST_IFN "sync0"
		  08 00 03 00 c8 00 00 00          SYNC_ID 200
		  06 00 04 00 b0 04 00 00          SYNC_MAXLEN 1200
		  06 00 07 00 58 1b 00 00          MCAST_PORT 7000
		  05 00 08 00 02 00 00 00          MCAST_TTL 2
		  08 00 05 00 ef 09 09 09          MCAST_GROUP 239.9.9.9`)
	d, err := decodeDaemon(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := SyncDaemon{State: SyncBackup, Interface: "sync0", SyncID: 200, MaxLen: 1200,
		Group: netip.MustParseAddr("239.9.9.9"), Port: 7000, TTL: 2}
	if d != want {
		t.Errorf("decoded %+v, want %+v", d, want)
	}
	if _, err := decodeDaemon(unhex(t, `08 00 01 00 02 00 00 00`)); !errors.Is(err, ErrBadDaemon) {
		t.Errorf("a message without the nested daemon: %v", err)
	}
}

func TestSatisfies(t *testing.T) {
	want := SyncDaemon{State: SyncBackup, Interface: "eth0", SyncID: 9}
	running := SyncDaemon{State: SyncBackup, Interface: "eth0", SyncID: 9, MaxLen: 1472, Group: DefaultSyncGroup(), Port: 8848, TTL: 1}
	if !want.Satisfies(running) {
		t.Error("defaults left to the kernel do not match what it reports")
	}
	for _, change := range []func(*SyncDaemon){
		func(d *SyncDaemon) { d.Interface = "eth1" },
		func(d *SyncDaemon) { d.SyncID = 10 },
		func(d *SyncDaemon) { d.Port = 9000 },
		func(d *SyncDaemon) { d.TTL = 2 },
		func(d *SyncDaemon) { d.MaxLen = 1200 },
		func(d *SyncDaemon) { d.Group = netip.MustParseAddr("239.0.0.1") },
	} {
		w := want
		change(&w)
		if w.Satisfies(running) {
			t.Errorf("%+v satisfied by %+v", w, running)
		}
	}
}

func TestPlanSync(t *testing.T) {
	m := SyncDaemon{State: SyncMaster, Interface: "eth0", SyncID: 1}
	b := SyncDaemon{State: SyncBackup, Interface: "eth0", SyncID: 1}
	bOther := SyncDaemon{State: SyncBackup, Interface: "eth9", SyncID: 1}
	both := map[SyncState]bool{SyncMaster: true, SyncBackup: true}
	for _, tc := range []struct {
		name       string
		want, have []SyncDaemon
		owned      map[SyncState]bool
		plan       string
	}{
		{"nothing to do", []SyncDaemon{m, b}, []SyncDaemon{b, m}, both, ""},
		{"start both", []SyncDaemon{m, b}, nil, both, "start-daemon master; start-daemon backup"},
		{"become master (keepalived's switch)", []SyncDaemon{m}, []SyncDaemon{b}, both, "stop-daemon backup; start-daemon master"},
		{"changed settings restart, stops first", []SyncDaemon{m, bOther}, []SyncDaemon{m, b}, both, "stop-daemon backup; start-daemon backup"},
		{"not owned: left alone", nil, []SyncDaemon{m, b}, nil, ""},
		{"owned but no longer wanted: stopped", nil, []SyncDaemon{m, b}, both, "stop-daemon master; stop-daemon backup"},
		{"a foreign master stays", []SyncDaemon{b}, []SyncDaemon{m}, map[SyncState]bool{SyncBackup: true}, "start-daemon backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, op := range PlanSync(tc.want, tc.have, tc.owned) {
				got = append(got, op.Kind.String()+" "+op.Daemon.State.String())
				if op.Kind == StartDaemon && !slices.ContainsFunc(tc.want, func(d SyncDaemon) bool { return d == op.Daemon }) {
					t.Errorf("starts %+v, which is not wanted", op.Daemon)
				}
			}
			if s := strings.Join(got, "; "); s != tc.plan {
				t.Errorf("plan %q, want %q", s, tc.plan)
			}
		})
	}
}

func FuzzDecodeDaemon(f *testing.F) {
	for _, d := range []SyncDaemon{
		{State: SyncMaster, Interface: "eth1", SyncID: 51, MaxLen: 1400, Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3},
		{State: SyncBackup, Interface: "eth0", Group: netip.MustParseAddr("ff02::8848")},
	} {
		b, err := encodeDaemonCmd(SyncOp{Kind: StartDaemon, Daemon: d})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[4:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDaemon(b)
		if err != nil {
			return
		}
		// Whatever decodes cleanly and is valid encodes again to the
		// same daemon.
		enc, err := encodeDaemonCmd(SyncOp{Kind: StartDaemon, Daemon: d})
		if err != nil {
			return
		}
		back, err := decodeDaemon(enc[4:])
		if err != nil || !back.Satisfies(d) || !d.Satisfies(back) {
			t.Fatalf("%+v encodes to %x, which decodes to %+v (%v)", d, enc, back, err)
		}
	})
}

func TestSyncStateText(t *testing.T) {
	for _, st := range []SyncState{SyncMaster, SyncBackup} {
		b, _ := st.MarshalText()
		var back SyncState
		if err := back.UnmarshalText(b); err != nil || back != st {
			t.Errorf("%v: %s reads back as %v (%v)", st, b, back, err)
		}
	}
	var s SyncState
	if err := s.UnmarshalText([]byte("both")); err == nil {
		t.Error("an unknown state was read")
	}
}
