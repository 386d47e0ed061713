package kubelet

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/executor"
)

// writeManifest writes a static pod manifest as an executor run would have.
func writeManifest(t *testing.T, dir, uid string, annotations map[string]string) string {
	t.Helper()
	p := apiPod()
	p.UID = types.UID(uid)
	for k, v := range annotations {
		p.Annotations[k] = v
	}
	b, err := Manifest(p)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, ManifestFile(p.UID))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func owner(fw, ex, sandbox string) map[string]string {
	return map[string]string{AnnotationFrameworkID: fw, AnnotationExecutorID: ex, AnnotationExecutorSandbox: sandbox}
}

// At start the executor removes the manifests ended runs of its framework left, and
// no other.
func TestSweepRemovesWhatEndedRunsOfTheFrameworkLeft(t *testing.T) {
	dir := t.TempDir()
	gone := map[string]string{
		"previous run of this executor id": writeManifest(t, dir, "u1", owner("fw", "ex", "/runs/1")),
		"ended run of another id":          writeManifest(t, dir, "u2", owner("fw", "old", "/runs/ended")),
	}
	kept := map[string]string{
		"live run of another id":   writeManifest(t, dir, "u3", owner("fw", "old", "/runs/live")),
		"another framework's":      writeManifest(t, dir, "u4", owner("fw2", "ex", "/runs/other")),
		"without owner (old k8sm)": writeManifest(t, dir, "u5", nil),
	}
	notK8sm := filepath.Join(dir, "etcd.yaml")
	if err := os.WriteFile(notK8sm, []byte("kind: Pod"), 0o644); err != nil {
		t.Fatal(err)
	}
	kept["not k8sm's"] = notK8sm

	rt := &Runtime{ManifestDir: dir, FrameworkID: "fw", ExecutorID: "ex", Sandbox: "/runs/2", Log: logr.Discard()}
	rt.Sweep(nil, func(sandbox string) bool { return sandbox != "/runs/live" })
	for what, file := range gone {
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("%s: %s is still there", what, file)
		}
	}
	for what, file := range kept {
		if _, err := os.Stat(file); err != nil {
			t.Errorf("%s: %s was removed", what, file)
		}
	}
}

func TestStartMarksTheManifestWithItsRunAndTask(t *testing.T) {
	dir := t.TempDir()
	rt := &Runtime{ManifestDir: dir, URL: "http://127.0.0.1:1", PollInterval: time.Hour,
		FrameworkID: "fw", ExecutorID: "ex", Sandbox: "/runs/2", Log: logr.Discard(), Done: t.Context().Done()}
	p := apiPod()
	p.Annotations[executor.AnnotationTaskID] = "t1"
	h, err := rt.Start(p, "", func(executor.Report) {})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, ManifestFile("uid-1"))
	a, err := manifestAnnotations(file)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{AnnotationFrameworkID: "fw", AnnotationExecutorID: "ex",
		AnnotationExecutorSandbox: "/runs/2", AnnotationTaskID: "t1", AnnotationPodUID: "uid-1"} {
		if a[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, a[k], v)
		}
	}
	// Kill marks the manifest for deletion before it returns: a kubelet that reads it
	// stops the pod, and never starts it again, though the executor that stops on
	// SIGTERM may be gone before the kubelet has shown it took the marks.
	h.Kill(time.Second)
	if m := readManifest(t, file); m.DeletionTimestamp == nil || m.Annotations[AnnotationTaskID] != "t1" {
		t.Errorf("the manifest is not marked for deletion after Kill: %+v", m.ObjectMeta)
	}
}

func taskPod(task string, phase corev1.PodPhase) corev1.Pod {
	p := staticPod(phase)
	p.Annotations[AnnotationTaskID] = task
	p.UID = types.UID("static-" + task)
	return p
}

// A new task of the same pod writes the same manifest: the kubelet runs one static pod
// of a name at a time and replaces the old. The old task ends without touching the new
// one's manifest, and does not take the new pod for its own.
func TestANewTaskOfAPodReplacesTheOld(t *testing.T) {
	k := &fakeKubelet{}
	srv := httptest.NewServer(k)
	defer srv.Close()
	dir := t.TempDir()
	rt := &Runtime{ManifestDir: dir, URL: srv.URL, PollInterval: 5 * time.Millisecond, GoneAfter: 20 * time.Millisecond, Log: logr.Discard(), Done: t.Context().Done()}
	start := func(task string, got *reports) executor.Handle {
		p := apiPod()
		p.Annotations[executor.AnnotationTaskID] = task
		h, err := rt.Start(p, "", got.add)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	manifest := filepath.Join(dir, ManifestFile("uid-1"))
	var old, replacement reports
	hOld := start("t1", &old)
	k.set(taskPod("t1", corev1.PodRunning))
	old.wait(t, "t1 Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })

	hNew := start("t2", &replacement)
	k.set(taskPod("t2", corev1.PodRunning)) // the kubelet replaced the pod
	replacement.wait(t, "t2 Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	left := old.wait(t, "t1 ended", func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed })
	if !strings.Contains(left.Message, "replaced") {
		t.Errorf("t1 ended with %q, want it to say it was replaced", left.Message)
	}
	hOld.Kill(time.Second)
	if a, err := manifestAnnotations(manifest); err != nil || a[AnnotationTaskID] != "t2" {
		t.Fatalf("t2's manifest after t1 ended: %v %v", a, err)
	}
	hNew.Kill(time.Second)
	waitGone(t, manifest)
}

// writeTemp leaves the temporary file of a manifest write that never got renamed (its
// executor died in between), with data, modified at mod.
func writeTemp(t *testing.T, dir, uid string, data []byte, mod time.Time) string {
	t.Helper()
	file := tempManifest(filepath.Join(dir, ManifestFile(types.UID(uid))))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, mod, mod); err != nil {
		t.Fatal(err)
	}
	return file
}

// The temporary file a manifest is written through is hidden, as the kubelet reads
// every file of its static pod directory whose name does not begin with a dot: it
// never takes one for a pod, half written or left by an executor that died before it
// renamed it. Such leftovers (which hold a pod's spec) are removed at start by the same
// rule as the manifests, and those that are not whole manifests, whose owner nothing
// says, once they are too old to be a write under way.
func TestSweepRemovesLeftoverTemporaryManifests(t *testing.T) {
	dir := t.TempDir()
	manifest := func(uid string, annotations map[string]string) []byte {
		p := apiPod()
		p.UID = types.UID(uid)
		for k, v := range annotations {
			p.Annotations[k] = v
		}
		b, err := Manifest(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now, old := time.Now(), time.Now().Add(-time.Hour)
	gone := map[string]string{
		"previous run of this executor id": writeTemp(t, dir, "u1", manifest("u1", owner("fw", "ex", "/runs/1")), now),
		"ended run of another id":          writeTemp(t, dir, "u2", manifest("u2", owner("fw", "old", "/runs/ended")), now),
		"old, empty":                       writeTemp(t, dir, "u3", nil, old),
		"old, cut short":                   writeTemp(t, dir, "u4", manifest("u4", owner("fw2", "ex", "/runs/other"))[:40], old),
	}
	kept := map[string]string{
		"live run of another id": writeTemp(t, dir, "u5", manifest("u5", owner("fw", "old", "/runs/live")), now),
		"another framework's":    writeTemp(t, dir, "u6", manifest("u6", owner("fw2", "ex", "/runs/other")), now),
		"being written":          writeTemp(t, dir, "u7", nil, now),
	}
	for what, file := range gone {
		if base := filepath.Base(file); !strings.HasPrefix(base, ".") {
			t.Fatalf("%s: the temporary file %s is not hidden from the kubelet", what, base)
		}
	}
	rt := &Runtime{ManifestDir: dir, FrameworkID: "fw", ExecutorID: "ex", Sandbox: "/runs/2", Log: logr.Discard()}
	rt.Sweep(nil, func(sandbox string) bool { return sandbox != "/runs/live" })
	for what, file := range gone {
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("%s: %s is still there", what, file)
		}
	}
	for what, file := range kept {
		if _, err := os.Stat(file); err != nil {
			t.Errorf("%s: %s was removed", what, file)
		}
	}
}
