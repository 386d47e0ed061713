package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A pod status the scheduler writes from its task's update says which generation of the
// pod's spec it reflects, as a kubelet's does (status.observedGeneration, and that of the
// conditions it owns).
func TestAPodStatusWrittenFromAnUpdateObservesThePodsGeneration(t *testing.T) {
	pod, mt := runningPodAndTask()
	pod.Generation = 3
	pod.Status.Phase = corev1.PodPending
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)

	if err := s.persist(context.Background(), agentUpdate(mt.Spec.TaskID, mesos.TASK_RUNNING, "0123456789abcdef").status); err != nil {
		t.Fatal(err)
	}

	got := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodRunning || got.Status.ObservedGeneration != 3 {
		t.Fatalf("phase %s, observedGeneration %d; want Running, 3", got.Status.Phase, got.Status.ObservedGeneration)
	}
	for _, cond := range got.Status.Conditions {
		if cond.ObservedGeneration != 3 {
			t.Errorf("condition %s observedGeneration = %d, want 3", cond.Type, cond.ObservedGeneration)
		}
	}
}
