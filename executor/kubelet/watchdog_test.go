package kubelet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The watchdog removes, once the executor's end of its pipe closes, the manifests of the
// executor's run, and no other.
func TestTheWatchdogRemovesItsRunsManifests(t *testing.T) {
	dir := t.TempDir()
	gone := []string{
		writeManifest(t, dir, "u1", owner("fw", "ex", "/runs/1")),
		writeManifest(t, dir, "u2", owner("fw", "ex", "/runs/1")),
	}
	kept := []string{
		writeManifest(t, dir, "u3", owner("fw", "ex", "/runs/2")),  // a later run's
		writeManifest(t, dir, "u4", owner("fw2", "ex", "/runs/1")), // another framework's
		writeManifest(t, dir, "u5", nil),
	}
	// The temporary file of a write its executor did not live to rename.
	tmp, err := os.ReadFile(writeManifest(t, dir, "u6", owner("fw", "ex", "/runs/1")))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(dir, ManifestFile("u6")))
	gone = append(gone, writeTemp(t, dir, "u6", tmp, time.Now()))
	spec, _ := json.Marshal(watchedRun{Dir: dir, FrameworkID: "fw", Sandbox: "/runs/1"})
	alive, held, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- manifestWatchdog.Run(string(spec), alive) }()
	select {
	case <-done:
		t.Fatal("the watchdog ended while the executor lives")
	case <-time.After(50 * time.Millisecond):
	}
	for _, f := range gone {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s was removed while the executor lives: %v", f, err)
		}
	}
	_ = held.Close() // the executor's process ended
	if code := <-done; code != 0 {
		t.Errorf("the watchdog exited with %d", code)
	}
	for _, f := range gone {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there", f)
		}
	}
	for _, f := range kept {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s was removed: %v", f, err)
		}
	}
}
