package kubelet

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor"
)

// The kubelet fails a pod whose activeDeadlineSeconds passed, or that it evicts, before
// it kills the pod's containers with their grace period. The pod is reported failed,
// and its manifest removed, only once the kubelet shows its containers stopped and its
// container runtime runs none of it: a terminal update has Mesos offer the pod's
// resources again.
func TestAFailedPodIsReportedOnceItsContainersStop(t *testing.T) {
	k := &fakeKubelet{running: http.StatusOK}
	srv := httptest.NewServer(k)
	defer srv.Close()
	dir := t.TempDir()
	manifest := filepath.Join(dir, ManifestFile("uid-1"))
	rt := &Runtime{ManifestDir: dir, URL: srv.URL, PollInterval: 5 * time.Millisecond, Log: logr.Discard()}
	var got reports
	if _, err := rt.Start(apiPod(), "", got.add); err != nil {
		t.Fatal(err)
	}
	started := metav1.NewTime(time.Now().Add(-time.Hour))
	running := staticPod(corev1.PodRunning)
	running.Status.ContainerStatuses[0].State.Running.StartedAt = started
	k.set(running)
	k.setRunning(runningPod(running))
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })

	failed := func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed }
	notYet := func(what, path string) {
		t.Helper()
		after := time.Now()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if r, ok := got.first(failed); ok {
				t.Fatalf("%s: reported failed (%s) while the pod's containers run", what, r.Status.Reason)
			}
			if k.askedSince(path, after) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the kubelet was not asked for %s", what, path)
			}
		}
		if _, err := os.Stat(manifest); err != nil {
			t.Fatalf("%s: the manifest was removed: %v", what, err)
		}
	}
	deadline := running.DeepCopy()
	deadline.Status.Phase, deadline.Status.Reason = corev1.PodFailed, "DeadlineExceeded"
	k.set(*deadline)
	notYet("its container running", "/pods")

	stopped := deadline.DeepCopy()
	stopped.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 137, Reason: "Error", StartedAt: started}}
	k.set(*stopped)
	notYet("its container stopped, its sandbox running", "/runningpods/")

	k.setRunning()
	r := got.wait(t, "Failed", failed)
	if r.Status.Reason != "DeadlineExceeded" || r.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("reported %+v, want the kubelet's status with the container stopped", r.Status)
	}
	waitGone(t, manifest)
}

// A pod that completed is reported at once: its containers ended, and the kubelet's
// container runtime has long had it in its cache.
func TestASucceededPodIsReportedAtOnce(t *testing.T) {
	k := &fakeKubelet{running: http.StatusOK}
	srv := httptest.NewServer(k)
	defer srv.Close()
	rt := &Runtime{ManifestDir: t.TempDir(), URL: srv.URL, PollInterval: 5 * time.Millisecond, Log: logr.Discard()}
	var got reports
	if _, err := rt.Start(apiPod(), "", got.add); err != nil {
		t.Fatal(err)
	}
	k.set(endedPod(corev1.PodSucceeded, time.Now().Add(-time.Minute)))
	got.waitFor(t, runningPodsAge, "Succeeded", func(r executor.Report) bool { return r.Status.Phase == corev1.PodSucceeded }, func() string { return "" })
}

// endedPod is the kubelet's static pod of apiPod ended, its container started at started
// and stopped.
func endedPod(phase corev1.PodPhase, started time.Time) corev1.Pod {
	p := staticPod(phase)
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: metav1.NewTime(started)}}
	return p
}
