package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/testapi"
)

// A pod deleted while its task runs (kubectl delete, an eviction, a Job suspended) is
// removed once its task ended, as a kubelet removes it: its terminal phase written first,
// then the pod deleted, so that its Job counts it (one with podReplacementPolicy Failed
// keeps its finalizer until the pod is Failed). The pod here keeps a Job's finalizer, so
// that what was written can be read after the delete.
func TestADeletedPodIsRemovedWithItsTerminalPhase(t *testing.T) {
	killedData, _ := json.Marshal(corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "c",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error"}}}}})
	for _, tc := range []struct {
		name      string
		from      mesosv1alpha1.TaskPhase // the MesosTask's phase when the pod is deleted
		podPhase  corev1.PodPhase         // the pod's
		state     mesos.TaskState
		data      []byte
		wantPhase corev1.PodPhase
		wantLog   []string
		exitCode  int32 // of the container, 0 for none
	}{
		{name: "killed", from: mesosv1alpha1.TaskPhaseRunning, podPhase: corev1.PodRunning, state: mesos.TASK_KILLED, data: killedData,
			wantPhase: corev1.PodFailed, wantLog: []string{"status Failed", "delete"}, exitCode: 143},
		{name: "finished", from: mesosv1alpha1.TaskPhaseRunning, podPhase: corev1.PodRunning, state: mesos.TASK_FINISHED,
			wantPhase: corev1.PodSucceeded, wantLog: []string{"status Succeeded", "delete"}},
		{name: "never ran: Mesos dropped its launch", from: mesosv1alpha1.TaskPhaseStaging, podPhase: corev1.PodPending, state: mesos.TASK_DROPPED,
			wantPhase: corev1.PodFailed, wantLog: []string{"status Failed", "delete"}},
		{name: "ended already: only removed", from: mesosv1alpha1.TaskPhaseUnreachable, podPhase: corev1.PodFailed, state: mesos.TASK_KILLED,
			wantPhase: corev1.PodFailed, wantLog: []string{"delete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := launchedTask()
			pod.Finalizers = []string{"batch.kubernetes.io/job-tracking"}
			pod.Status.Phase = tc.podPhase
			if tc.podPhase == corev1.PodRunning {
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			}
			mt.Status.Phase = tc.from
			if tc.from != mesosv1alpha1.TaskPhaseStaging {
				mt.Status.MesosState = "TASK_" + string(tc.from)
			}
			var w testapi.PodWrites
			c := fakeAPIWith(t, w.Funcs(), pod, mt)
			ctx := context.Background()
			if err := c.Delete(ctx, pod); err != nil {
				t.Fatal(err)
			}
			w.Reset()
			s, rec := newTestScheduler(c, newFakeDriver())

			if err := s.persist(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: tc.state.Enum(), AgentID: &mesos.AgentID{Value: "a1"},
				UUID: []byte("0123456789abcdef"), Source: mesos.SOURCE_EXECUTOR.Enum(), Data: tc.data}); err != nil {
				t.Fatal(err)
			}

			if got := w.List(); !slices.Equal(got, tc.wantLog) {
				t.Errorf("pod writes = %v, want %v", got, tc.wantLog)
			}
			got := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tc.wantPhase || podtask.PodReady(&got.Status) {
				t.Errorf("the pod removed is %s, ready %v; want %s, not ready", got.Status.Phase, podtask.PodReady(&got.Status), tc.wantPhase)
			}
			if tc.exitCode != 0 && (len(got.Status.ContainerStatuses) != 1 || got.Status.ContainerStatuses[0].State.Terminated == nil ||
				got.Status.ContainerStatuses[0].State.Terminated.ExitCode != tc.exitCode) {
				t.Errorf("container statuses %+v, want the executor's exit code %d", got.Status.ContainerStatuses, tc.exitCode)
			}
			if s.Pending(mt.Spec.TaskID) {
				t.Error("the task of a deleted pod is queued again")
			}
			if tc.state != mesos.TASK_DROPPED {
				if evs := drain(rec); !hasPrefixes(evs, "Normal Killed") {
					t.Errorf("events %v, want Killed", evs)
				}
			}
		})
	}
}

// The Pod reconciler removes a deleted pod whose MesosTask it sees ended, and it may see
// the MesosTask the scheduler wrote before the scheduler removes the pod: the pod is
// gone under the scheduler's delete, or its status write loses to the other's and the
// pod is gone when read again. People are told the task ended either way.
func TestADeletedPodRemovedByAnotherIsToldItsTaskEnded(t *testing.T) {
	removeFirst := func(ctx context.Context, c client.Client, o client.Object) {
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), pod); err != nil {
			t.Fatal(err)
		}
		pod.Finalizers = nil // the fake removes a deleted object with its last finalizer
		if err := c.Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	gone := apierrors.NewNotFound(corev1.Resource("pods"), "p")
	for _, tc := range []struct {
		name  string
		funcs interceptor.Funcs
	}{
		{"under the delete", interceptor.Funcs{Delete: func(ctx context.Context, c client.WithWatch, o client.Object, _ ...client.DeleteOption) error {
			removeFirst(ctx, c, o)
			return gone
		}}},
		{"under the status write", interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, _ string, o client.Object, _ ...client.SubResourceUpdateOption) error {
			removeFirst(ctx, c, o)
			return apierrors.NewConflict(corev1.Resource("pods"), "p", errors.New("the object has been modified"))
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := launchedTask()
			pod.Finalizers = []string{"batch.kubernetes.io/job-tracking"}
			pod.Status.Phase = corev1.PodRunning
			mt.Status.Phase, mt.Status.MesosState = mesosv1alpha1.TaskPhaseRunning, "TASK_RUNNING"
			now := metav1.Now()
			pod.DeletionTimestamp = &now
			c := fakeAPIWith(t, tc.funcs, pod, mt)
			ctx := context.Background()
			s, rec := newTestScheduler(c, newFakeDriver())

			if err := s.persist(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: mesos.TASK_KILLED.Enum(), AgentID: &mesos.AgentID{Value: "a1"},
				UUID: []byte("0123456789abcdef"), Source: mesos.SOURCE_EXECUTOR.Enum()}); err != nil {
				t.Fatal(err)
			}

			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}); !apierrors.IsNotFound(err) {
				t.Fatalf("the pod is there (%v): the test did not remove it", err)
			}
			if evs := drain(rec); !hasPrefixes(evs, "Normal Killed") {
				t.Errorf("events %v, want Killed", evs)
			}
		})
	}
}

// A pod deleted while its task waits for the agent's executor to subscribe: the agent
// does not hand the KILL on, it ends the task itself (TASK_KILLED,
// REASON_TASK_KILLED_DURING_LAUNCH, from the agent, without the executor's data). The
// pod ends Failed and goes as with any kill, and its MesosTask says why.
func TestAPodKilledBeforeItsExecutorGotItEnds(t *testing.T) {
	pod, mt := launchedTask()
	pod.Finalizers = []string{"batch.kubernetes.io/job-tracking"}
	pod.Status.Phase = corev1.PodPending
	var w testapi.PodWrites
	c := fakeAPIWith(t, w.Funcs(), pod, mt)
	ctx := context.Background()
	if err := c.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	w.Reset()
	s, rec := newTestScheduler(c, newFakeDriver())
	msg := "Killed before delivery to the executor"

	if err := s.persist(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: mesos.TASK_KILLED.Enum(), AgentID: &mesos.AgentID{Value: "a1"},
		UUID: []byte("0123456789abcdef"), Source: mesos.SOURCE_AGENT.Enum(), Reason: mesos.REASON_TASK_KILLED_DURING_LAUNCH.Enum(),
		Message: &msg, ExecutorID: &mesos.ExecutorID{Value: "e1"}}); err != nil {
		t.Fatal(err)
	}

	if got := w.List(); !slices.Equal(got, []string{"status Failed", "delete"}) {
		t.Errorf("pod writes = %v, want its Failed status, then its removal", got)
	}
	got := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodFailed || got.Status.Reason != "REASON_TASK_KILLED_DURING_LAUNCH" || got.Status.Message != msg {
		t.Errorf("the pod removed is %s (%s: %s), want Failed with the agent's reason", got.Status.Phase, got.Status.Reason, got.Status.Message)
	}
	gotTask := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mt), gotTask); err != nil {
		t.Fatal(err)
	}
	if st := gotTask.Status; st.Phase != mesosv1alpha1.TaskPhaseKilled || st.Reason != "REASON_TASK_KILLED_DURING_LAUNCH" || st.Message != msg ||
		st.Source != "SOURCE_AGENT" || st.FinishedAt == nil {
		t.Errorf("MesosTask status %+v, want Killed with the agent's reason and message", st)
	}
	if s.Pending(mt.Spec.TaskID) {
		t.Error("the task of a deleted pod is queued again")
	}
	if evs := drain(rec); !hasPrefixes(evs, "Normal Killed") {
		t.Errorf("events %v, want Killed", evs)
	}
}
