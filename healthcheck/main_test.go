package healthcheck_test

import (
	"bufio"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"directord/internal/vmtest"
)

// The keepalived comparison benchmark runs inside a guest kernel, since
// keepalived's checker needs IPVS. There the test binary also serves as
// its CPU meter's spinner (spinMeter).
func TestMain(m *testing.M) {
	if os.Getenv(envSpin) == "1" {
		spin()
	}
	vmtest.Main(m)
}

const envSpin = "DIRECTORD_BENCH_SPIN"

// spin counts in a loop, and prints the count for each line it reads,
// until its input ends.
func spin() {
	var n atomic.Uint64
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println(n.Load())
		}
		os.Exit(0)
	}()
	for {
		n.Add(1)
	}
}
