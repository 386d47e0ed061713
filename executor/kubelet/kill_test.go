package kubelet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor"
)

// readManifest reads a static pod manifest as the kubelet would.
func readManifest(t *testing.T, file string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var p corev1.Pod
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// marked is the kubelet's pod once it read the deletion marks of a manifest.
func marked(p corev1.Pod, m *corev1.Pod) corev1.Pod {
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = m.DeletionTimestamp, m.DeletionGracePeriodSeconds
	return p
}

// A KILL's grace reaches the kubelet as an API pod's graceful deletion does: the
// manifest, which names the pod's UID, is rewritten with deletionTimestamp and
// deletionGracePeriodSeconds (the kubelet kills a removed static pod with its
// terminationGracePeriodSeconds, whatever the KILL said). A later KILL with a shorter
// grace rewrites them while the kubelet has not taken them; once it shows it has, the
// manifest is removed.
func TestAKillMarksTheManifestWithItsGrace(t *testing.T) {
	k := &fakeKubelet{}
	rt := runtimeOf(t, k)
	dir := rt.ManifestDir
	var got reports
	h, err := rt.Start(apiPod(), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, ManifestFile("uid-1"))
	before := readManifest(t, manifest)
	if before.UID == "" {
		t.Fatal("the manifest names no UID: the kubelet would take a rewrite of it for another pod")
	}
	k.set(staticPod(corev1.PodRunning))
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })

	checkMarks := func(want int64) *corev1.Pod {
		t.Helper()
		m := readManifest(t, manifest)
		switch {
		case m.UID != before.UID:
			t.Fatalf("the marked manifest's UID is %q, want %q", m.UID, before.UID)
		case m.DeletionTimestamp == nil || m.DeletionGracePeriodSeconds == nil:
			t.Fatalf("the manifest is not marked for deletion: %+v", m.ObjectMeta)
		case *m.DeletionGracePeriodSeconds != want:
			t.Fatalf("deletionGracePeriodSeconds = %d, want %d", *m.DeletionGracePeriodSeconds, want)
		}
		return m
	}
	h.Kill(time.Minute)
	checkMarks(60)
	h.Kill(time.Hour) // longer: changes nothing
	checkMarks(60)
	h.Kill(4500 * time.Millisecond) // shorter: rounded up, the kubelet counts seconds
	m := checkMarks(5)
	for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(manifest); err != nil {
			t.Fatalf("the manifest was removed before the kubelet took its marks: %v", err)
		}
	}
	k.set(marked(staticPod(corev1.PodRunning), m)) // the kubelet read them
	// While it stops the pod's containers the manifest stays: removed, the pod would
	// leave /pods at once, and with it how its containers ended.
	for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(manifest); err != nil {
			t.Fatalf("the manifest was removed while the kubelet still ran the pod's containers: %v", err)
		}
	}
	k.set(stoppedPod(marked(staticPod(corev1.PodRunning), m), 0)) // it stopped them
	waitGone(t, manifest)
	k.set() // and tore the pod down
	killed := got.wait(t, "Killed", func(r executor.Report) bool { return r.Killed })
	if cs := killed.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
		t.Errorf("killed with container statuses %+v, want c terminated with the kubelet's exit code 0", cs)
	}
}

// stoppedPod is the kubelet's pod once it stopped the pod's containers, each with exit.
func stoppedPod(p corev1.Pod, exit int32) corev1.Pod {
	p = *p.DeepCopy()
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		cs.Ready = false
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Reason: "Completed"}}
	}
	return p
}

// A later KILL with a shorter grace period shortens the wait, as the Mesos command
// executor's does: where the kubelet does not say which pods it runs, the pod is
// taken for stopped when the shorter grace ends, not the first one.
func TestALaterShorterKillShortensTheWait(t *testing.T) {
	k := &fakeKubelet{} // no /runningpods/, as on the read-only port
	rt := runtimeOf(t, k)
	dir := rt.ManifestDir
	var got reports
	h, err := rt.Start(apiPod(), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	k.set(staticPod(corev1.PodRunning))
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	h.Kill(time.Hour)
	h.Kill(50 * time.Millisecond)
	waitGone(t, filepath.Join(dir, ManifestFile("uid-1")))
	k.set()
	got.wait(t, "Killed", func(r executor.Report) bool { return r.Killed })
}

// The static pod's UID is the kubelet's for one task of one pod: stable, and another
// for another task.
func TestStaticPodUID(t *testing.T) {
	a, b := staticPodUID("uid-1", "t1"), staticPodUID("uid-1", "t2")
	if a == "" || a != staticPodUID("uid-1", "t1") || a == b || a == staticPodUID("uid-2", "t1") {
		t.Errorf("UIDs: %q %q", a, b)
	}
	p := apiPod()
	p.Annotations[AnnotationTaskID] = "t1"
	m, err := Manifest(p)
	if err != nil {
		t.Fatal(err)
	}
	var got metav1.PartialObjectMetadata
	if err := json.Unmarshal(m, &got); err != nil || got.UID != a {
		t.Errorf("the manifest's UID is %q (%v), want %q", got.UID, err, a)
	}
}

// A marked pod the kubelet shows without a status of its own it never started (its pod
// worker gave it up on the marks), and never will: its manifest goes at once, whatever
// the grace, and no container of it is waited for.
func TestAKilledPodTheKubeletNeverStartedGoesAtOnce(t *testing.T) {
	k := &fakeKubelet{} // no /runningpods/
	rt := runtimeOf(t, k)
	var got reports
	h, err := rt.Start(apiPod(), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(rt.ManifestDir, ManifestFile("uid-1"))
	never := staticPod(corev1.PodPending)
	never.Status = corev1.PodStatus{Phase: corev1.PodPending} // the manifest's own: unsynced
	k.set(never)
	h.Kill(time.Hour)
	k.set(marked(never, readManifest(t, manifest)))
	waitGone(t, manifest)
}

// The wait for the containers to stop ends with the grace: then the kubelet kills them
// anyway, and an executor that shuts down has counted on its terminal updates by then.
func TestAKilledPodsManifestGoesWhenTheGraceEnds(t *testing.T) {
	k := &fakeKubelet{}
	rt := runtimeOf(t, k)
	var got reports
	h, err := rt.Start(apiPod(), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	k.set(staticPod(corev1.PodRunning))
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	manifest := filepath.Join(rt.ManifestDir, ManifestFile("uid-1"))
	killed := time.Now()
	h.Kill(100 * time.Millisecond)
	k.set(marked(staticPod(corev1.PodRunning), readManifest(t, manifest))) // its container ignores SIGTERM
	waitGone(t, manifest)
	if after := time.Since(killed); after > time.Second+marksWait/2 {
		t.Errorf("the manifest went %s after a kill of 100 ms grace, want it soon after the grace", after)
	}
}
