package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A manager that stopped between writing a task's terminal update to its MesosTask and
// writing its pod (a rollout, lost leadership) left the pod Running and Ready. The
// master's updates (an agent removed: TASK_GONE_BY_OPERATOR) come once and need no
// acknowledgement, and a terminal task is not reconciled again, so nothing else would
// ever tell the pod. The pod is given the status its MesosTask implies once the
// scheduler had time to write it itself: after a short while for the master's updates,
// and for an agent's only after the agent's longest wait to send it again (the
// scheduler's write carries the executor's exit codes). A deleted pod is the Pod
// reconciler's, and a pod that ended keeps its status.
func TestAPodWhoseTaskEndedIsToldSoAfterARestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		source   string
		age      time.Duration // since the MesosTask's last update
		deleted  bool
		podPhase corev1.PodPhase
		want     corev1.PodPhase
		requeue  bool
	}{
		{name: "the master's, a minute ago", source: "SOURCE_MASTER", age: time.Minute, podPhase: corev1.PodRunning, want: corev1.PodFailed},
		{name: "the master's, just now", source: "SOURCE_MASTER", age: time.Second, podPhase: corev1.PodRunning, want: corev1.PodRunning, requeue: true},
		{name: "an agent's, a minute ago", source: "SOURCE_AGENT", age: time.Minute, podPhase: corev1.PodRunning, want: corev1.PodRunning, requeue: true},
		{name: "an agent's, long ago", source: "SOURCE_AGENT", age: time.Hour, podPhase: corev1.PodRunning, want: corev1.PodFailed},
		{name: "the pod is deleted", source: "SOURCE_MASTER", age: time.Minute, deleted: true, podPhase: corev1.PodRunning, want: corev1.PodRunning},
		{name: "the pod ended", source: "SOURCE_MASTER", age: time.Minute, podPhase: corev1.PodSucceeded, want: corev1.PodSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Generation: 1},
				Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
					Tolerations: []corev1.Toleration{}},
				Status: corev1.PodStatus{Phase: tc.podPhase, ObservedGeneration: 1, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: 1},
					{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, ObservedGeneration: 1},
					{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, ObservedGeneration: 1},
					{Type: corev1.PodReady, Status: corev1.ConditionTrue, ObservedGeneration: 1}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
			if tc.deleted {
				now := metav1.Now()
				pod.DeletionTimestamp, pod.Finalizers = &now, []string{"example.com/hold"}
			}
			mt, node := runningTaskOnAgent()
			mt.Finalizers = []string{TaskFinalizer}
			updated := metav1.NewTime(time.Now().Add(-tc.age))
			mt.Status.Phase, mt.Status.MesosState, mt.Status.Source = mesosv1alpha1.TaskPhaseGone, "TASK_GONE_BY_OPERATOR", tc.source
			mt.Status.Reason, mt.Status.LastUpdateTime, mt.Status.FinishedAt = "REASON_SLAVE_REMOVED_BY_OPERATOR", &updated, &updated
			writes := 0
			c := podAPI(t, countStatusUpdates(&writes), pod, mt, node, readyCluster())
			r := &MesosTaskReconciler{Client: c, Registry: scheduler.NewRegistry(), Recorder: events.NewFakeRecorder(10)}
			var res ctrl.Result
			for range 2 { // a second pass writes nothing more
				var err error
				if res, err = r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)}); err != nil {
					t.Fatal(err)
				}
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tc.want {
				t.Fatalf("pod phase %s, want %s", got.Status.Phase, tc.want)
			}
			if (res.RequeueAfter > 0) != tc.requeue {
				t.Errorf("looked at again after %v, want a requeue %v", res.RequeueAfter, tc.requeue)
			}
			if tc.want != corev1.PodFailed || tc.podPhase == corev1.PodFailed {
				if writes != 0 {
					t.Errorf("%d pod status writes, want none", writes)
				}
				return
			}
			if writes != 1 {
				t.Errorf("%d pod status writes, want 1", writes)
			}
			if got.Status.Reason != podtask.ReasonTaskGone || podtask.PodReady(&got.Status) {
				t.Errorf("reason %q, Ready %v; want %s, not Ready", got.Status.Reason, podtask.PodReady(&got.Status), podtask.ReasonTaskGone)
			}
			if cs := got.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil {
				t.Errorf("container statuses %+v, want the container terminated", cs)
			}
		})
	}
}
