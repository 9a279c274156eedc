package lvs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/vmtest"
	"directord/lvs"
)

// syncConfig declares n services with four reals each. No address ends
// in .0: this guest kernel refuses such destinations.
func syncConfig(n int) (hcl, restore string) {
	var h, r strings.Builder
	for i := range n {
		vip := fmt.Sprintf("10.%d.%d.%d", 10+i/62500, (i/250)%250+1, i%250+1)
		fmt.Fprintf(&h, "virtual_server \"s%d\" {\n  address = %q\n  port = 80\n  scheduler = \"wrr\"\n", i, vip)
		fmt.Fprintf(&r, "-A -t %s:80 -s wrr\n", vip)
		for j := range 4 {
			real := fmt.Sprintf("172.%d.%d.%d", 16+j, 1+(i/250)%250, 1+i%250)
			fmt.Fprintf(&h, "  real_server %q { weight = %d }\n", real, j+1)
			fmt.Fprintf(&r, "-a -t %s:80 -r %s:80 -g -w %d\n", vip, real, j+1)
		}
		h.WriteString("}\n")
	}
	return h.String(), r.String()
}

// oneByOne writes each op in its own call: what a client without batching
// (cloudflare/ipvs used naively) costs.
type oneByOne struct{ lvs.Kernel }

func (o oneByOne) Write(ops []lvs.Op) []error {
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = o.Kernel.Write([]lvs.Op{op})[0]
	}
	return errs
}

func flush(tb testing.TB) {
	if out, err := exec.Command("ipvsadm", "-C").CombinedOutput(); err != nil {
		tb.Fatalf("ipvsadm -C: %v %s", err, out)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkSync, inside one UML boot: a cold sync of 1,000 services × 4
// destinations from an empty table, batched and one call per object,
// against `ipvsadm -R` of the same table in the same guest; the writes of
// a health flip and of a no-op pass; and the time of a drift check over
// the whole table.
//
//	sudo go test ./lvs -run '^$' -bench Sync -benchtime 1x
func BenchmarkSync(b *testing.B) {
	if vmtest.RunInGuest(b, vmtest.WithOutput(os.Stdout), vmtest.WithMem("1G")) {
		return
	}
	const services, runs = 1000, 5
	hcl, restore := syncConfig(services)
	cfg := parseTB(b, hcl)
	k, err := lvs.OpenKernel()
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()

	var batched, naive, ipvsadmR []time.Duration
	for range runs {
		for _, mode := range []string{"batched", "naive", "ipvsadm"} {
			flush(b)
			start := time.Now()
			switch mode {
			case "ipvsadm":
				cmd := exec.Command("ipvsadm", "-R")
				cmd.Stdin = strings.NewReader(restore)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("ipvsadm -R: %v %s", err, out)
				}
				ipvsadmR = append(ipvsadmR, time.Since(start))
			case "naive":
				if err := lvs.New(oneByOne{k}, lvs.Options{}).Start(cfg); err != nil {
					b.Fatal(err)
				}
				naive = append(naive, time.Since(start))
			default:
				if err := lvs.New(k, lvs.Options{}).Start(cfg); err != nil {
					b.Fatal(err)
				}
				batched = append(batched, time.Since(start))
			}
			if tbl, err := k.Read(); err != nil || len(tbl) != services {
				b.Fatalf("%s: %d services after sync (%v)", mode, len(tbl), err)
			}
		}
	}

	// The table is now the desired one (ipvsadm -R wrote it last):
	// adoption, a flip and a no-op pass, counted.
	h := &health{}
	ck := &countingKernel{Kernel: k}
	r := lvs.New(ck, lvs.Options{Health: h.fn})
	start := time.Now()
	if err := r.Start(cfg); err != nil {
		b.Fatal(err)
	}
	adopt := time.Since(start)
	adoptWrites := len(ck.take())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	h.set("172.16.1.7", false) // a real of service 6 only
	awaitPass(b, r, r.HealthChanged)
	flipWrites := len(ck.take())
	awaitPass(b, r, r.HealthChanged)
	noopWrites := len(ck.take())

	var reads []time.Duration
	for range runs {
		start := time.Now()
		if _, err := k.Read(); err != nil {
			b.Fatal(err)
		}
		reads = append(reads, time.Since(start))
	}

	fmt.Printf("\nIPVS in one UML guest: %d services × 4 destinations (%d runs, medians)\n", services, runs)
	fmt.Printf("  cold sync, batched          %8s   ratio to ipvsadm -R %.2f\n", median(batched).Round(time.Millisecond), float64(median(batched))/float64(median(ipvsadmR)))
	fmt.Printf("  cold sync, one call each    %8s   ratio to ipvsadm -R %.2f\n", median(naive).Round(time.Millisecond), float64(median(naive))/float64(median(ipvsadmR)))
	fmt.Printf("  ipvsadm -R                  %8s\n", median(ipvsadmR).Round(time.Millisecond))
	fmt.Printf("  adoption of the right table %8s   writes %d\n", adopt.Round(time.Millisecond), adoptWrites)
	fmt.Printf("  writes for one health flip  %8d   (must be 1)\n", flipWrites)
	fmt.Printf("  writes for a no-op pass     %8d   (must be 0)\n", noopWrites)
	fmt.Printf("  drift check (full read)     %8s\n", median(reads).Round(time.Millisecond))
	fmt.Printf("  runs: batched %v\n        naive %v\n        ipvsadm %v\n", batched, naive, ipvsadmR)
	b.ReportMetric(float64(median(batched))/float64(median(ipvsadmR)), "ratio-vs-ipvsadm-R")
	if flipWrites != 1 || noopWrites != 0 || adoptWrites != 0 {
		b.Errorf("writes: flip %d, no-op %d, adoption %d", flipWrites, noopWrites, adoptWrites)
	}
}

func parseTB(tb testing.TB, src string) lvs.Spec {
	tb.Helper()
	cfg, err := config.Parse("bench.hcl", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return daemon.IPVSSpec(cfg)
}
