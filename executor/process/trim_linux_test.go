package process

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// Trim frees an ended pod's emptyDirs and its containers' working directories, and
// keeps its logs, which `kubectl logs` of the ended pod still reads; a pod that has not
// ended keeps everything.
func TestTrimKeepsOnlyTheLogsOfAnEndedPod(t *testing.T) {
	withVolume := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		return p
	}
	rt := &Runtime{}
	// The container's working directory is its rootfs, three levels below the volumes.
	_, rec, done := startWith(t, rt, withVolume(shPod(corev1.RestartPolicyNever, `echo kept > ../../../volumes/data/f && echo kept > f && echo logged`)))
	if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the pod ended %s: %s", rep.Status.Phase, rep.Message)
	}
	volume, rootfs := filepath.Join(done, "volumes", "data", "f"), filepath.Join(done, "containers", "c0", "rootfs", "f")
	if !exists(volume) || !exists(rootfs) {
		t.Fatalf("the container wrote nothing to trim: %s %v, %s %v", volume, exists(volume), rootfs, exists(rootfs))
	}

	running := withVolume(shPod(corev1.RestartPolicyAlways, "sleep 300"))
	running.Name, running.UID = "running", testUID+"-running"
	_, rec2, live := startWith(t, rt, running)
	rec2.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })

	rt.Trim(done)
	rt.Trim(live)
	if exists(filepath.Join(done, "volumes")) || exists(filepath.Join(done, "containers", "c0", "rootfs")) {
		t.Error("the ended pod's volumes or its container's rootfs are still there")
	}
	var logs bytes.Buffer
	if err := rt.ContainerLogs(context.Background(), "ns", "p", "c0", &corev1.PodLogOptions{}, &logs); err != nil || logs.String() != "logged\n" {
		t.Errorf("kubectl logs of the trimmed pod: %q, %v", logs.String(), err)
	}
	if !exists(filepath.Join(live, "volumes", "data")) || !exists(filepath.Join(live, "containers", "c0", "rootfs")) {
		t.Error("a running pod's volume or rootfs was removed")
	}
}
