// Command debpkg builds directord's Debian package with nfpm, used as a
// library, from nfpm.yaml. ./scripts/package.sh stages the files and runs
// it; it lives in a module of its own so that nfpm and its dependencies
// never enter the daemon's go.mod.
//
//	go run . -config nfpm.yaml -target OUT.deb
//
// The configuration's ${VARIABLES} come from the environment (VERSION,
// ARCH, STAGE, SRC); an unset one is an error, not an empty string.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
)

func main() {
	config := flag.String("config", "nfpm.yaml", "nfpm configuration")
	target := flag.String("target", "", "the .deb to write")
	flag.Parse()
	if err := build(*config, *target); err != nil {
		fmt.Fprintln(os.Stderr, "debpkg:", err)
		os.Exit(1)
	}
}

func build(config, target string) error {
	if target == "" {
		return errors.New("-target is required")
	}
	var unset []string
	cfg, err := nfpm.ParseFileWithEnvMapping(config, func(name string) string {
		v, ok := os.LookupEnv(name)
		// nfpm asks for its signing passphrases through this too.
		if !ok && !strings.HasPrefix(name, "NFPM_") {
			unset = append(unset, name)
		}
		return v
	})
	if err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	if len(unset) > 0 {
		return fmt.Errorf("%s uses unset variables %v", config, unset)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return err
	}
	info = nfpm.WithDefaults(info)
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	info.Target = target
	f, err := os.Create(target)
	if err != nil {
		return err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(target)
		return fmt.Errorf("packaging %s: %w", target, err)
	}
	return f.Close()
}
