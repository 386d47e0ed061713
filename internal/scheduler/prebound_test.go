package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod bound before it was taken (a DaemonSet's) has its launch recorded on its
// MesosTask and on the pod, before it is sent: its binding records none, and the
// MesosTask may be lost (a new leader with the MesosTasks in memory).
func TestAPodBoundBeforeItWasTakenRecordsItsLaunchOnThePod(t *testing.T) {
	pod, _ := podWithTask("p", "500m")
	pod.Spec.SchedulerName, pod.Spec.NodeName = corev1.DefaultSchedulerName, "mesos-c-agent-2"
	mt, err := podtask.NewMesosTask(pod, &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, pod.Spec.NodeName)
	if err != nil {
		t.Fatal(err)
	}
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKeyFromObject(mt), mt); err != nil {
		t.Fatal(err)
	}
	s.Enqueue(ctx, mt, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-2", 2)})

	if len(d.launches) != 1 {
		t.Fatalf("launches %v, want the pod's", d.launches)
	}
	got := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	if !podtask.LaunchedOnPod(got) {
		t.Errorf("the pod's conditions %+v: want %s", got.Status.Conditions, podtask.ConditionTaskLaunched)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mt), mt); err != nil || mt.Status.Phase != mesosv1alpha1.TaskPhaseStaging {
		t.Errorf("the MesosTask's phase %q (%v), want Staging", mt.Status.Phase, err)
	}
}

// A pod bound by another whose launch k8sm recorded on it, launched and never reported,
// whose MesosTask is gone, is asked about after a subscription, not launched again: a
// task Mesos runs gets its record back, one Mesos never saw is queued again.
func TestAPodBoundByAnotherThatWasLaunchedIsAskedAboutNotLaunchedAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		state   mesos.TaskState
		phase   mesosv1alpha1.TaskPhase
		pending bool
	}{
		{"the task runs", mesos.TASK_RUNNING, mesosv1alpha1.TaskPhaseRunning, false},
		{"Mesos never saw it", mesos.TASK_GONE, mesosv1alpha1.TaskPhasePending, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, queued := queuedPod(t, "p")
			pod.Spec.SchedulerName = corev1.DefaultSchedulerName
			launchedAt := metav1.Now().Rfc3339Copy()
			podtask.MarkLaunched(&pod.Status, launchedAt)
			c, d, s := boundWithoutMesosTask(t, pod)
			ctx := context.Background()

			s.reconcileTasks(ctx, d)
			if calls := d.reconcileCalls(); len(calls) != 2 || calls[0][queued.Spec.TaskID] != "a-2" {
				t.Fatalf("reconciliations = %v, want the task asked about with its agent, then all", calls)
			}
			answer(s, queued.Spec.TaskID, "a-2", tc.state)

			mt := &mesosv1alpha1.MesosTask{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), mt); err != nil {
				t.Fatal(err)
			}
			if mt.Status.Phase != tc.phase || s.Pending(queued.Spec.TaskID) != tc.pending || len(d.launches) != 0 {
				t.Fatalf("phase %s, queued %v, launches %d; want %s, %v, none", mt.Status.Phase, s.Pending(queued.Spec.TaskID), len(d.launches), tc.phase, tc.pending)
			}
			if tc.state == mesos.TASK_RUNNING && !mt.Status.LaunchedAt.Equal(&launchedAt) {
				t.Errorf("launchedAt %v, want when the pod says it was launched, %v", mt.Status.LaunchedAt, launchedAt)
			}
		})
	}
}
