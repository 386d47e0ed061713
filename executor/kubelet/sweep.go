package kubelet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	left := func(a map[string]string) bool {
		if a[AnnotationFrameworkID] != r.FrameworkID {
			return false
		}
		owner := a[AnnotationExecutorSandbox]
		return a[AnnotationExecutorID] == r.ExecutorID || (owner != "" && owner != r.Sandbox && ended(owner))
	}
	err := eachManifest(r.ManifestDir, func(file string, a map[string]string) {
		if !left(a) {
			return
		}
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			r.Log.Info("Cannot remove a static pod an earlier executor left", "manifest", file, "error", err.Error())
			return
		}
		r.Log.Info("Removed a static pod an earlier executor left", "manifest", file,
			"task", a[AnnotationTaskID], "executor", a[AnnotationExecutorID], "sandbox", a[AnnotationExecutorSandbox])
	})
	if err != nil {
		r.Log.Info("Cannot look for static pods an earlier executor left", "dir", r.ManifestDir, "error", err.Error())
		return
	}
	// The temporary files of writes an executor did not live to rename (writeAtomic):
	// the kubelet ignores them, but they hold pods' specs. Those that are whole
	// manifests go by the same rule; the others, which say nothing of their owner,
	// once they are too old to be a write under way.
	_ = eachTempManifest(r.ManifestDir, func(file string, m *metav1.PartialObjectMetadata, mod time.Time) {
		if (m != nil && !left(m.Annotations)) || (m == nil && time.Since(mod) < leftoverTempAge) {
			return
		}
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			r.Log.Info("Cannot remove the temporary file of a static pod manifest an earlier executor left", "file", file, "error", err.Error())
			return
		}
		r.Log.Info("Removed the temporary file of a static pod manifest an earlier executor left", "file", file)
	})
}

// leftoverTempAge is how old a temporary manifest file that is no whole manifest must
// be to be taken for one a dead executor left: a write takes milliseconds.
const leftoverTempAge = time.Minute

// eachManifest calls f with each k8sm manifest of dir (k8sm-*.json) that it can read,
// and its annotations.
func eachManifest(dir string, f func(file string, annotations map[string]string)) error {
	return eachManifestMeta(dir, func(file string, m *metav1.PartialObjectMetadata) { f(file, m.Annotations) })
}

// eachManifestMeta calls f with each k8sm manifest of dir (k8sm-*.json) that it can
// read, and its static pod's metadata.
func eachManifestMeta(dir string, f func(file string, m *metav1.PartialObjectMetadata)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if name := e.Name(); e.IsDir() || !strings.HasPrefix(name, "k8sm-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var m metav1.PartialObjectMetadata
		if json.Unmarshal(b, &m) == nil {
			f(file, &m)
		}
	}
	return nil
}

// eachTempManifest calls f with each temporary file of a k8sm manifest of dir
// (tempManifest), its static pod's metadata (nil when it is no whole manifest) and
// when it was last modified.
func eachTempManifest(dir string, f func(file string, m *metav1.PartialObjectMetadata, mod time.Time)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if name := e.Name(); e.IsDir() || !strings.HasPrefix(name, ".k8sm-") || !strings.HasSuffix(name, ".json.tmp") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			continue
		}
		var m *metav1.PartialObjectMetadata
		if b, err := os.ReadFile(file); err == nil {
			var meta metav1.PartialObjectMetadata
			if json.Unmarshal(b, &meta) == nil && meta.Name != "" {
				m = &meta
			}
		}
		f(file, m, info.ModTime())
	}
	return nil
}
