package main

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/k8sm/k8sm/internal/podtask"
)

// TestStatusPatches applies the patches the real kubelet's peer sends, one after the
// other, as the API server applies a strategic merge patch: each turns the pod's status
// into the next of kubeletStatuses, ending Running and Ready, and carries the pod's uid.
func TestStatusPatches(t *testing.T) {
	pod := benchPod(1, corev1.DefaultSchedulerName)
	pod.UID = types.UID("0b7f6a2c-0000-4000-8000-000000000001")
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable}
	// Whole seconds: a metav1.Time goes as JSON with no finer precision.
	statuses := kubeletStatuses(pod, metav1.NewTime(time.Unix(1_780_000_000, 0)))
	for i, want := range statuses {
		patch, err := statusPatch(pod.UID, pod.Status, want)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Metadata struct {
				UID types.UID `json:"uid"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(patch, &meta); err != nil || meta.Metadata.UID != pod.UID {
			t.Errorf("patch %d: uid %q, want %q (%v): %s", i, meta.Metadata.UID, pod.UID, err, patch)
		}
		before, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		after, err := strategicpatch.StrategicMergePatch(before, patch, corev1.Pod{})
		if err != nil {
			t.Fatalf("patch %d: %v: %s", i, err, patch)
		}
		pod = &corev1.Pod{}
		if err := json.Unmarshal(after, pod); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(pod.Status, want) {
			t.Errorf("patch %d: status\n%+v\nwant\n%+v", i, pod.Status, want)
		}
	}
	last := statuses[len(statuses)-1]
	if last.Phase != corev1.PodRunning || !podtask.PodReady(&last) {
		t.Errorf("the last status is %s, Ready %v; want Running and Ready", last.Phase, podtask.PodReady(&last))
	}
}
