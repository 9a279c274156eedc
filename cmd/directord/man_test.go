package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// directord man writes a page for every command an operator can run, from
// the commands' own help, and none for the hidden ones.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"man", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	root := newRootCmd(&stdout, &stderr)
	for _, c := range root.Commands() {
		name := filepath.Join(dir, "directord-"+c.Name()+".8")
		b, err := os.ReadFile(name)
		switch {
		case c.Hidden || c.Name() == "help":
			if err == nil {
				t.Errorf("a page for the hidden command %s", c.Name())
			}
		case err != nil:
			t.Errorf("no page for %s: %v", c.Name(), err)
		case !strings.Contains(string(b), `.TH "DIRECTORD-`+strings.ToUpper(c.Name())+`" "8"`) || !strings.Contains(string(b), c.Short[:min(len(c.Short), 20)]):
			t.Errorf("%s's page is not its help:\n%.400s", c.Name(), b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "directord.8")); err != nil {
		t.Errorf("no page for directord itself: %v", err)
	}
	if code := run(context.Background(), []string{"man", filepath.Join(dir, "missing")}, &stdout, &stderr); code == 0 {
		t.Error("man into a missing directory succeeded")
	}
}

// Cobra's completion command is there for the package's bash and zsh
// files.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "directord") {
			t.Errorf("completion %s: exit %d, %d bytes: %s", shell, code, stdout.Len(), stderr.String())
		}
	}
}
