package mesossim

import (
	"os"
	"path/filepath"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// A fetched URI is a file of the sandbox of the mode the URI asks, with the source's
// content, whatever the source's mode, which stays as it was.
func TestFetchGivesTheSandboxAFileOfTheURIsMode(t *testing.T) {
	src := filepath.Join(t.TempDir(), "k8sm-executor")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		executable bool
		want       os.FileMode
	}{
		{"executable", true, 0o755},
		{"not executable", false, 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			exec := tc.executable
			if err := fetch(mesos.CommandInfo_URI{Value: "file://" + src, Executable: &exec}, dir); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(dir, "k8sm-executor"))
			if err != nil || fi.Mode().Perm() != tc.want {
				t.Fatalf("fetched file: %v, %v; want mode %v", fi.Mode(), err, tc.want)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "k8sm-executor")); string(b) != "#!/bin/sh\n" {
				t.Errorf("fetched content %q", b)
			}
			if fi, _ := os.Stat(src); fi.Mode().Perm() != 0o755 {
				t.Errorf("the source's mode is now %v, want 0755 still", fi.Mode().Perm())
			}
		})
	}
}
