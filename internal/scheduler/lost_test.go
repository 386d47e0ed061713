package scheduler

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// An update whose MesosTask goes between its read from the cache and the write (its pod
// was deleted, the MesosTask's finalizer let go) is answered as one of a task nothing
// owns: the task is killed, not left running until the next implicit reconciliation.
func TestAnUpdateWhoseMesosTaskWentBeforeTheWriteKillsTheTask(t *testing.T) {
	_, mt := podWithTask("p", "100m")
	mt.Status.Phase = mesosv1alpha1.TaskPhasePending
	c := fakeAPIWith(t, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if _, ok := o.(*mesosv1alpha1.MesosTask); ok {
				return apierrors.NewNotFound(schema.GroupResource{Group: mesosv1alpha1.GroupVersion.Group, Resource: "mesostasks"}, o.GetName())
			}
			return c.Update(ctx, o, opts...)
		},
	}, mt) // the pod is gone already
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	acked := false
	w := &worker{s: s, grace: -1, starting: map[string]startingUpdate{}}
	w.handle(context.Background(), statusUpdate{status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: mt.Spec.TaskID},
		AgentID: &mesos.AgentID{Value: "a-1"}, State: mesos.TASK_RUNNING.Enum(), UUID: []byte("0123456789abcdef")},
		ack: func(context.Context) error { acked = true; return nil }})
	if len(d.kills) != 1 || d.kills[0] != mt.Spec.TaskID {
		t.Errorf("kills = %v, want the task killed", d.kills)
	}
	if !acked {
		t.Errorf("the update was not acknowledged, though its answer (the kill) was sent")
	}
}

// runningPodAndTask is a pod running on agent a-1, and its MesosTask.
func runningPodAndTask() (*corev1.Pod, *mesosv1alpha1.MesosTask) {
	pod, mt := podWithTask("p", "100m")
	pod.Spec.NodeName = "mesos-c-agent-1"
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	now := metav1.Now()
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, PodPhase: corev1.PodRunning,
		MesosState: mesos.TASK_RUNNING.String(), AgentID: "a-1", Hostname: "agent-1", LaunchedAt: &now, StartedAt: &now}
	return pod, mt
}

// failing makes the first n writes of a kind fail as an API server that is briefly
// unavailable does.
func failing(n int32, what func(client.Object) bool) interceptor.Funcs {
	left := &atomic.Int32{}
	left.Store(n)
	fail := func(o client.Object) error {
		if what(o) && left.Add(-1) >= 0 {
			return apierrors.NewServiceUnavailable("etcdserver: leader changed")
		}
		return nil
	}
	return interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if err := fail(o); err != nil {
				return err
			}
			return c.Update(ctx, o, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			if err := fail(o); err != nil {
				return err
			}
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
	}
}

func isTask(o client.Object) bool { _, ok := o.(*mesosv1alpha1.MesosTask); return ok }
func isPod(o client.Object) bool  { _, ok := o.(*corev1.Pod); return ok }

// masterUpdate is an update the master sends itself: no uuid, no acknowledgement.
func masterUpdate(taskID string, state mesos.TaskState, reason mesos.TaskStatus_Reason) statusUpdate {
	return statusUpdate{status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, AgentID: &mesos.AgentID{Value: "a-1"},
		State: state.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Reason: reason.Enum()},
		ack: func(context.Context) error { return nil }}
}

// agentUpdate is an update an agent sends: with a uuid, acknowledged once written.
func agentUpdate(taskID string, state mesos.TaskState, uuid string) statusUpdate {
	return statusUpdate{status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, AgentID: &mesos.AgentID{Value: "a-1"},
		State: state.Enum(), Source: mesos.SOURCE_AGENT.Enum(), UUID: []byte(uuid)},
		ack: func(context.Context) error { return nil }}
}

func newWorker(s *Scheduler, grace time.Duration) *worker {
	return &worker{s: s, grace: grace, starting: map[string]startingUpdate{}, retrying: map[string]retryWrite{}}
}

// The master sends its own updates once, and they need no acknowledgement: one whose
// write failed is written again, and what it says reaches the MesosTask and the pod.
func TestAMasterUpdateWhoseWriteFailedIsWrittenAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		from      mesosv1alpha1.TaskPhase
		update    statusUpdate
		fails     func(client.Object) bool
		wantTask  mesosv1alpha1.TaskPhase
		wantPhase corev1.PodPhase
	}{
		{name: "the agent removed: the MesosTask written, the pod's status not", from: mesosv1alpha1.TaskPhaseRunning,
			update: masterUpdate("k8sm.uid-p", mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR), fails: isPod,
			wantTask: mesosv1alpha1.TaskPhaseGone, wantPhase: corev1.PodFailed},
		{name: "the agent back after a partition: the MesosTask not written", from: mesosv1alpha1.TaskPhaseUnreachable,
			update: masterUpdate("k8sm.uid-p", mesos.TASK_RUNNING, mesos.REASON_AGENT_REREGISTERED), fails: isTask,
			wantTask: mesosv1alpha1.TaskPhaseRunning, wantPhase: corev1.PodRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := runningPodAndTask()
			mt.Status.Phase = tc.from
			c := fakeAPIWith(t, failing(1, tc.fails), pod, mt)
			s, _ := newTestScheduler(c, newFakeDriver())
			w, got, gotPod := handleOne(t, s, c, tc.update, mt, pod)
			if got.Status.Phase != tc.wantTask || gotPod.Status.Phase != tc.wantPhase {
				t.Errorf("MesosTask %s, pod %s; want %s, %s", got.Status.Phase, gotPod.Status.Phase, tc.wantTask, tc.wantPhase)
			}
			if len(w.retrying) != 0 {
				t.Errorf("still to write again: %v", w.retrying)
			}
		})
	}
}

// A master update to write again gives way to a later update of its task: the later
// one is written on top of it, and it is not written again after.
func TestALaterUpdateOvertakesOneToWriteAgain(t *testing.T) {
	pod, mt := runningPodAndTask()
	c := fakeAPIWith(t, failing(1, isTask), pod, mt)
	s, _ := newTestScheduler(c, newFakeDriver())
	w := newWorker(s, -1)
	w.handle(context.Background(), masterUpdate(mt.Spec.TaskID, mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_DISCONNECTED))
	if len(w.retrying) != 1 {
		t.Fatalf("the failed master update is not kept to write again: %v", w.retrying)
	}
	w.handle(context.Background(), agentUpdate(mt.Spec.TaskID, mesos.TASK_RUNNING, "0123456789abcdef"))
	w.flush(context.Background(), time.Now().Add(retryMost), 0)
	got := &mesosv1alpha1.MesosTask{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(mt), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != mesosv1alpha1.TaskPhaseRunning || len(w.retrying) != 0 {
		t.Errorf("MesosTask %s, to write again %v; want Running, nothing", got.Status.Phase, w.retrying)
	}
}

// A task whose TASK_STARTING was acknowledged and not written yet (held back for the
// RUNNING that usually follows, or its write failed) started: a TASK_GONE or TASK_LOST
// after it is written as such, and does not launch it again as one Mesos never ran.
func TestATaskThatStartedIsNotTakenForOneNeverRun(t *testing.T) {
	for _, tc := range []struct {
		name        string
		startFailed bool
		end         mesos.TaskState
		want        mesosv1alpha1.TaskPhase
	}{
		{name: "STARTING held back, then GONE", end: mesos.TASK_GONE, want: mesosv1alpha1.TaskPhaseGone},
		{name: "STARTING held back, then LOST", end: mesos.TASK_LOST, want: mesosv1alpha1.TaskPhaseGone},
		{name: "STARTING's write failed, then GONE", startFailed: true, end: mesos.TASK_GONE, want: mesosv1alpha1.TaskPhaseGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("p", "100m")
			pod.Spec.NodeName = "mesos-c-agent-1"
			mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, AgentID: "a-1"}
			var fails int32
			if tc.startFailed {
				fails = 1
			}
			c := fakeAPIWith(t, failing(fails, isTask), pod, mt)
			s, _ := newTestScheduler(c, newFakeDriver())
			w := newWorker(s, time.Minute)
			w.handle(context.Background(), agentUpdate(mt.Spec.TaskID, mesos.TASK_STARTING, "starting-uuid-01"))
			if tc.startFailed {
				w.flush(context.Background(), time.Now().Add(2*time.Minute), 0)
			}
			w.handle(context.Background(), agentUpdate(mt.Spec.TaskID, tc.end, "the-end-uuid-001"))
			got := &mesosv1alpha1.MesosTask{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(mt), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase == mesosv1alpha1.TaskPhasePending || s.Pending(mt.Spec.TaskID) {
				t.Errorf("the task is launched again (MesosTask %s: %q)", got.Status.Phase, got.Status.Message)
			}
			if got.Status.Phase != tc.want {
				t.Errorf("MesosTask %s, want %s", got.Status.Phase, tc.want)
			}
		})
	}
}

// A launch with no update written whose agent is then marked gone for good ends Gone and
// its pod Failed, for its controller to make again: the pod is bound to the agent's Node,
// where a launch again would wait forever (the task may also have run there, its
// updates not written while the API server was slow).
func TestALaunchOnAnAgentMarkedGoneEndsItsPod(t *testing.T) {
	pod, mt := runningPodAndTask()
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	now := metav1.Now()
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, PodPhase: corev1.PodPending, AgentID: "a-1", Hostname: "agent-1", LaunchedAt: &now}
	c := fakeAPI(t, pod, mt)
	s, _ := newTestScheduler(c, newFakeDriver())
	_, got, gotPod := handleOne(t, s, c, masterUpdate(mt.Spec.TaskID, mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR), mt, pod)
	if got.Status.Phase != mesosv1alpha1.TaskPhaseGone || gotPod.Status.Phase != corev1.PodFailed {
		t.Errorf("MesosTask %s, pod %s; want Gone, Failed", got.Status.Phase, gotPod.Status.Phase)
	}
	s.mu.Lock()
	queued := len(s.pending)
	s.mu.Unlock()
	if queued != 0 {
		t.Errorf("%d tasks queued to launch again", queued)
	}
}

// handleOne has a worker of s handle an update and write what it has to, writing again
// what failed, and returns the worker with the MesosTask and the pod as c then has them.
func handleOne(t *testing.T, s *Scheduler, c client.Client, u statusUpdate, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) (*worker, *mesosv1alpha1.MesosTask, *corev1.Pod) {
	t.Helper()
	w := newWorker(s, -1)
	w.handle(context.Background(), u)
	w.flush(context.Background(), time.Now().Add(retryMost), 0)
	got, gotPod := &mesosv1alpha1.MesosTask{}, &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(mt), got); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), gotPod); err != nil {
		t.Fatal(err)
	}
	return w, got, gotPod
}
