//go:build unix

package testio

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// Umask0 runs the rest of the test under umask 0, so that the modes a test checks are
// the ones the code asks for, not what the test runner's umask happens to take away.
// The umask is the process's: a test that calls it must not run in parallel.
func Umask0(t testing.TB) {
	t.Helper()
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

// PrivateTree fails the test for a directory or file under root, root included, that
// its owner's group or other users may read, write or enter; and when root holds no
// file, as a check of nothing would pass.
func PrivateTree(t testing.TB, root string) {
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
