package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Without kubectl in PATH, k8sm-local uses the newest one make test-deps built beside
// it, by version; with one in PATH, that one.
func TestFindKubectl(t *testing.T) {
	binDir := t.TempDir()
	t.Setenv("PATH", t.TempDir())
	if got := findKubectl(binDir); got != "" {
		t.Errorf("findKubectl without any = %q, want \"\"", got)
	}
	for _, v := range []string{"1.37.2", "1.37.10"} {
		writeExecutable(t, filepath.Join(binDir, "k8s", v, "kubectl"))
	}
	if got, want := findKubectl(binDir), filepath.Join(binDir, "k8s", "1.37.10", "kubectl"); got != want {
		t.Errorf("findKubectl = %q, want %q", got, want)
	}
	path := t.TempDir()
	writeExecutable(t, filepath.Join(path, "kubectl"))
	t.Setenv("PATH", path)
	if got, want := findKubectl(binDir), filepath.Join(path, "kubectl"); got != want {
		t.Errorf("findKubectl with one in PATH = %q, want %q", got, want)
	}
}

func writeExecutable(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
