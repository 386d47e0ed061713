package main

import (
	"bytes"
	"os"
	"os/exec"
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

// What k8sm-local shows of a kubectl command is its output, and its error output only
// when it fails: a line kubectl logs as it connects is not shown as the answer.
func TestRunShownKeepsErrorOutputForFailures(t *testing.T) {
	script := filepath.Join(t.TempDir(), "kubectl")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'E1203 websocket.go:296] Unknown stream id 1, discarding message' >&2\necho answer\nexit \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		exit string
		want string
	}{
		{"0", "answer\n"},
		{"1", "answer\nE1203 websocket.go:296] Unknown stream id 1, discarding message\n"},
	} {
		var out bytes.Buffer
		err := runShown(exec.Command(script, c.exit), &out)
		if (err != nil) != (c.exit != "0") {
			t.Errorf("exit %s: error %v", c.exit, err)
		}
		if out.String() != c.want {
			t.Errorf("exit %s: shown %q, want %q", c.exit, out.String(), c.want)
		}
	}
}
