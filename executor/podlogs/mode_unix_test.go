//go:build unix

package podlogs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sm/k8sm/internal/testio"
)

// A container's log holds whatever the container printed (tokens, customer data):
// its directory and files are the executor's alone, whether written here, rotated or
// imported, so that no other user of the agent, in the executor's group or not, reads
// them without the pods/log permission.
func TestLogFilesArePrivate(t *testing.T) {
	testio.Umask0(t)
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
			testio.PrivateTree(t, dir)
		})
	}
}
