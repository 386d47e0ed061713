package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A container name from the kubelet's answer becomes a path in the sandbox: one that is
// no container name is refused before anything is asked or made, whatever answered on
// the kubelet's port.
func TestASavedLogsContainerNameIsAContainerName(t *testing.T) {
	dir := t.TempDir()
	sandbox := filepath.Join(dir, "sandbox")
	f := &follower{sandbox: sandbox}
	for _, name := range []string{"../../escape", "a/b", "..", ""} {
		err := f.saveLog(&corev1.Pod{}, corev1.ContainerStatus{Name: name})
		if err == nil || !strings.Contains(err.Error(), "no container name") {
			t.Errorf("container %q: %v, want it refused", name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("made %v", entries)
	}
}
