package kubelet

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/podlogs"
	"github.com/k8sm/k8sm/internal/podtask"
)

// The kubelet fails a pod whose activeDeadlineSeconds passed, or that it evicts, before
// it kills the pod's containers with their grace period. The pod is reported failed,
// and its manifest removed, only once the kubelet shows its containers stopped and its
// container runtime runs none of it: a terminal update has Mesos offer the pod's
// resources again.
func TestAFailedPodIsReportedOnceItsContainersStop(t *testing.T) {
	k := &fakeKubelet{running: http.StatusOK}
	rt := runtimeOf(t, k)
	dir := rt.ManifestDir
	manifest := filepath.Join(dir, ManifestFile("uid-1"))
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
	rt := runtimeOf(t, k)
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

// While the kubelet shows a pod ended and its containers still stop, the pod is reported
// not ready at once, in the phase it had: Services stop sending it traffic, and its task
// is not reported ended while its containers hold the resources. Whatever Ready the
// kubelet shows meanwhile, the report says False.
func TestAnEndingPodIsReportedNotReadyAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phase corev1.PodPhase
		ready corev1.ConditionStatus // the kubelet's Ready and ContainersReady; "": none
	}{
		{"failed, not ready as the kubelet says", corev1.PodFailed, corev1.ConditionFalse},
		{"failed, still ready", corev1.PodFailed, corev1.ConditionTrue},
		{"failed, no conditions", corev1.PodFailed, ""},
		{"succeeded, still ready", corev1.PodSucceeded, corev1.ConditionTrue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKubelet{running: http.StatusOK}
			rt := runtimeOf(t, k)
			var got reports
			if _, err := rt.Start(apiPod(), "", got.add); err != nil {
				t.Fatal(err)
			}
			running := withReadiness(staticPod(corev1.PodRunning), corev1.ConditionTrue)
			k.set(running)
			k.setRunning(runningPod(running))
			got.wait(t, "Running and Ready", func(r executor.Report) bool {
				return r.Status.Phase == corev1.PodRunning && podtask.PodReady(&r.Status)
			})

			ending := withReadiness(staticPod(tc.phase), tc.ready)
			ending.Status.Reason = "Evicted"
			k.set(ending)
			notReady := func(r executor.Report) bool { return !podtask.PodReady(&r.Status) }
			held := got.wait(t, "not ready", notReady)
			if held.Status.Phase != corev1.PodRunning {
				t.Errorf("reported phase %s while the containers run, want Running", held.Status.Phase)
			}
			for _, c := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
				if got := condition(held.Status, c); got != corev1.ConditionFalse {
					t.Errorf("%s = %q, want False", c, got)
				}
			}
			if held.Status.ContainerStatuses[0].State.Running == nil {
				t.Errorf("container = %+v, want it running as the kubelet shows", held.Status.ContainerStatuses[0])
			}
			// The same kubelet status, asked again later (the times in a status are whole
			// seconds), is not reported again.
			n := got.count()
			waitAsked(t, k, "/pods", time.Now().Add(1100*time.Millisecond))
			if more := got.count() - n; more != 0 {
				t.Errorf("%d more reports of the unchanged status", more)
			}

			stopped := endedPod(tc.phase, time.Now().Add(-time.Minute))
			stopped.Status.Conditions = ending.Status.Conditions
			k.set(stopped)
			k.setRunning()
			got.wait(t, string(tc.phase), func(r executor.Report) bool { return r.Status.Phase == tc.phase })
			got.mu.Lock()
			defer got.mu.Unlock()
			for _, r := range got.all {
				if r.Status.Phase == tc.phase {
					break
				}
				if podtask.PodReady(&r.Status) && r.Status.Reason == "Evicted" {
					t.Errorf("reported ready after the kubelet ended the pod: %+v", r.Status)
				}
			}
		})
	}
}

// withReadiness gives a pod Ready and ContainersReady of status ("": neither).
func withReadiness(p corev1.Pod, status corev1.ConditionStatus) corev1.Pod {
	if status != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: status}, {Type: corev1.PodReady, Status: status}}
	}
	return p
}

// condition is the status of a pod status's condition ("": none).
func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func (r *reports) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

// waitAsked waits until the kubelet was asked for path after after.
func waitAsked(t *testing.T, k *fakeKubelet, path string, after time.Time) {
	t.Helper()
	for deadline := after.Add(10 * time.Second); k.askedSince(path, after) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the kubelet was not asked for %s", path)
		}
	}
}

// endPodKeepingItsLog has the kubelet show the pod of startAPIPod Succeeded, and waits
// until its container c's log is kept in the pod's sandbox. It returns the kubelet's
// pods, the ended one first.
func endPodKeepingItsLog(t *testing.T, k *apiKubelet, sandbox string) []corev1.Pod {
	t.Helper()
	done := kubeletPods(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}, false)
	done[0].Status.Phase = corev1.PodSucceeded
	done[0].Status.ContainerStatuses = done[0].Status.ContainerStatuses[:1]
	k.mu.Lock()
	k.pods = done
	k.mu.Unlock()
	poll(t, 10*time.Second, "the kept log", func() bool { return podlogs.Has(savedLogDir(sandbox, "c")) }, func() string { return "" })
	return done
}
