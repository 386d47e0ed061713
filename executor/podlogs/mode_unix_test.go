//go:build unix

package podlogs

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withUmask runs the test under umask 0, so that the modes checked are the ones the
// package asks for, not what the test runner's umask happens to take away.
func withUmask(t *testing.T) {
	t.Helper()
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

// privateTree fails the test for a directory or file under root, root included, that
// its owner's group or other users may read, write or enter.
func privateTree(t *testing.T, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v: its group and other users have access", p, perm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("%s holds no file", root)
	}
}

// A container's log holds whatever the container printed (tokens, customer data):
// its directory and files are the executor's alone, whether written here, rotated or
// imported, so that no other user of the agent, in the executor's group or not, reads
// them without the pods/log permission.
func TestLogFilesArePrivate(t *testing.T) {
	withUmask(t)
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, dir string)
	}{
		{name: "written and rotated", write: func(t *testing.T, dir string) {
			now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			l, err := Open(dir, 0, Options{MaxSize: 100, MaxLine: 50, Clock: func() time.Time { now = now.Add(time.Second); return now }})
			if err != nil {
				t.Fatal(err)
			}
			writeLines(t, l, 0, 10)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if rotated, err := rotatedPaths(dir, 0); err != nil || len(rotated) == 0 {
				t.Fatalf("no rotated file (%v)", err)
			}
		}},
		{name: "in the directory of an earlier executor", write: func(t *testing.T, dir string) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			l, err := Open(dir, 0, Options{})
			if err != nil {
				t.Fatal(err)
			}
			writeLines(t, l, 0, 1)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "imported", write: func(t *testing.T, dir string) {
			if err := Import(dir, 1, strings.NewReader("2026-11-30T10:00:00Z a line\n")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "containers", "c", "logs")
			tc.write(t, dir)
			privateTree(t, dir)
		})
	}
}
