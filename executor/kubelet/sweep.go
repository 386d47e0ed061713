package kubelet

import (
	"os"
	"path/filepath"
	"strings"
)

// Sweep removes the static pod manifests that ended runs of this framework's executors
// on the agent left (executor.Sweeper), and the kubelet stops their pods: their tasks
// are over (the agent failed them when their executor ended) or will be launched again,
// by a new task whose manifest has the same name. It is called before this run starts
// any pod, so a manifest of this executor id is a leftover: Mesos runs one executor of
// an id per framework on an agent. A manifest of another executor id of the framework
// (after a change of the executor's spec, say) is removed once its run has ended; one of
// another framework, or without the owner annotations (written before k8sm recorded
// them), is left alone: nothing says it is this framework's.
func (r *Runtime) Sweep(_ []string, ended func(sandbox string) bool) {
	if r.FrameworkID == "" {
		return
	}
	err := eachManifest(r.ManifestDir, func(file string, a map[string]string) {
		if a[AnnotationFrameworkID] != r.FrameworkID {
			return
		}
		owner := a[AnnotationExecutorSandbox]
		if a[AnnotationExecutorID] != r.ExecutorID && (owner == "" || owner == r.Sandbox || !ended(owner)) {
			return
		}
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			r.Log.Info("Cannot remove a static pod an earlier executor left", "manifest", file, "error", err.Error())
			return
		}
		r.Log.Info("Removed a static pod an earlier executor left", "manifest", file,
			"task", a[AnnotationTaskID], "executor", a[AnnotationExecutorID], "sandbox", owner)
	})
	if err != nil {
		r.Log.Info("Cannot look for static pods an earlier executor left", "dir", r.ManifestDir, "error", err.Error())
	}
}

// eachManifest calls f with each k8sm manifest of dir (k8sm-*.json) that it can read,
// and its annotations.
func eachManifest(dir string, f func(file string, annotations map[string]string)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if name := e.Name(); e.IsDir() || !strings.HasPrefix(name, "k8sm-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		if a, err := manifestAnnotations(file); err == nil {
			f(file, a)
		}
	}
	return nil
}
