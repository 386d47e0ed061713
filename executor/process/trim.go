package process

import (
	"os"
	"path/filepath"

	"github.com/k8sm/k8sm/executor"
)

var _ executor.Trimmer = (*Runtime)(nil)

// Trim removes from an ended pod's sandbox its emptyDir volumes and its containers'
// rootfs directories (their default working directories), all that its containers
// wrote there, and keeps their logs, which `kubectl logs` of the ended pod reads
// (executor.Trimmer). The executor calls it once the agent acknowledged the pod's end;
// a pod of that sandbox that has not ended keeps everything.
func (r *Runtime) Trim(sandbox string) {
	if r.liveIn(sandbox) {
		r.Log.Info("Not trimming the sandbox of a pod that has not ended", "sandbox", sandbox)
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(sandbox, "containers", "*", "rootfs"))
	for _, dir := range append(dirs, filepath.Join(sandbox, "volumes")) {
		if err := os.RemoveAll(dir); err != nil {
			r.Log.Info("Could not remove what an ended pod left in its sandbox", "dir", dir, "error", err.Error())
		}
	}
}

// liveIn says whether a pod of the runtime that runs in sandbox has not ended.
func (r *Runtime) liveIn(sandbox string) bool {
	r.podsMu.Lock()
	defer r.podsMu.Unlock()
	for _, p := range r.pods {
		p.mu.Lock()
		live := p.sandbox == sandbox && p.final == nil
		p.mu.Unlock()
		if live {
			return true
		}
	}
	return false
}
