package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// A pod whose launch was not sent (its subscription ended as it was bound) waits in the
// queue, bound. The reconciliation after the next subscription asks Mesos about its task,
// and Mesos, which never got it, answers TASK_GONE. While that answer is being written
// (the MesosTask back to Pending, "launching again"), an offer round launches the task
// from the queue. The answer came before that launch and says nothing of it: the task
// is not queued again for it, and no later round launches it a second time. (Found by
// the long chaos run: launched twice while live, refused by Mesos for its duplicate id.)
func TestAnAnswerOlderThanALaunchDoesNotQueueTheTaskAgain(t *testing.T) {
	pod, queued := queuedPod(t, "job-1")
	pod.Spec.NodeName = agentnode.NodeName("c", "agent-1", 0)
	var s *Scheduler
	offersDuringTheWrite := true
	funcs := interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		if _, ok := o.(*mesosv1alpha1.MesosTask); ok && offersDuringTheWrite {
			offersDuringTheWrite = false
			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
		}
		return c.Create(ctx, o, opts...)
	}}
	c := fakeAPIWith(t, funcs, pod)
	d := newFakeDriver()
	s, _ = newTestScheduler(c, d)
	ctx := context.Background()
	s.noteBoundUnsent(queued.Spec.TaskID, pod.Spec.NodeName)
	s.Enqueue(ctx, queued, pod)
	answer := masterUpdate(queued.Spec.TaskID, mesos.TASK_GONE, mesos.REASON_RECONCILIATION)
	answer.received = time.Now().Add(-time.Millisecond)

	newWorker(s, -1).handle(ctx, answer)

	if len(d.accepted) != 1 {
		t.Fatalf("%d ACCEPTs during the answer's write, want the launch from the queue", len(d.accepted))
	}
	if s.Pending(queued.Spec.TaskID) || !s.LaunchUnwritten(queued.Spec.TaskID) {
		t.Errorf("queued again %v, launch remembered %v; want the launch remembered and the task not queued again",
			s.Pending(queued.Spec.TaskID), s.LaunchUnwritten(queued.Spec.TaskID))
	}
	offer := agentOffer("agent-1", 2)
	offer.ID.Value = "o-agent-1-later"
	s.handleNew(ctx, []mesos.Offer{offer})
	if len(d.accepted) != 1 {
		t.Fatalf("the task was launched %d times", len(d.accepted))
	}
}

// A task this process launched, whose update it wrote a moment ago, is queued again from
// a cache that shows its MesosTask as it was before (Pending): the stale pass of a
// reconciler. The offer round reads the MesosTask from the API server before launching
// it again, and finds it launched.
func TestATaskWrittenLatelyIsNotLaunchedAgainFromAStaleCache(t *testing.T) {
	pod, stale := podWithTask("job-2", "500m")
	pod.Spec.NodeName = agentnode.NodeName("c", "agent-1", 0)
	stale.Status.Phase = mesosv1alpha1.TaskPhasePending
	running := stale.DeepCopy()
	running.Status.Phase, running.Status.MesosState = mesosv1alpha1.TaskPhaseRunning, mesos.TASK_RUNNING.String()
	d := newFakeDriver()
	s, _ := newTestScheduler(fakeAPI(t, pod, stale), d)
	s.APIReader = fakeAPI(t, pod.DeepCopy(), running)
	ctx := context.Background()
	key := client.ObjectKeyFromObject(pod)
	s.noteLaunch(stale.Spec.TaskID, launchNow("a-agent-1", "agent-1"), &key)
	s.launchWritten(stale.Spec.TaskID)
	s.Enqueue(ctx, stale, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if len(d.accepted) != 0 || s.Pending(stale.Spec.TaskID) {
		t.Fatalf("launched %d times, still queued %v; want it not launched again and out of the queue", len(d.accepted), s.Pending(stale.Spec.TaskID))
	}
}

// An ACCEPT whose answer is lost (the master got it) leaves its tasks to Mesos's word.
// Mesos's answer to a reconciliation asked before the ACCEPT reached it (the one after
// the subscription) says it does not know the task, though it runs it now: that answer
// is not taken for a launch Mesos never ran while the ACCEPT may have reached it, and
// the task is not queued to be launched again beside itself.
func TestAnAnswerOlderThanAFailedAcceptDoesNotQueueTheTaskAgain(t *testing.T) {
	pod, mt := queuedPod(t, "job-3")
	c := fakeAPI(t, pod)
	s, _ := failedAccept(t, c, mt, pod)
	ctx := context.Background()

	newWorker(s, -1).handle(ctx, masterUpdate(mt.Spec.TaskID, mesos.TASK_GONE, mesos.REASON_RECONCILIATION))

	if s.Pending(mt.Spec.TaskID) {
		t.Fatal("the task is queued to be launched again")
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mt), &mesosv1alpha1.MesosTask{}); err == nil {
		t.Error("a MesosTask was written for the answer")
	}
}

// An agent's update that says Mesos does not hold a task, and came before a launch sent
// since, is still written before it is acknowledged (nothing acknowledged unwritten);
// the launch it says nothing of stays remembered, and the task is not queued again.
func TestAnAgentsUpdateOlderThanALaunchIsWrittenBeforeItsAcknowledgement(t *testing.T) {
	pod, mt := queuedPod(t, "job-4")
	c := fakeAPI(t, pod)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	dropped := agentUpdate(mt.Spec.TaskID, mesos.TASK_DROPPED, "u-1")
	dropped.received = time.Now().Add(-time.Millisecond)
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if len(d.accepted) != 1 {
		t.Fatalf("%d ACCEPTs, want the task launched", len(d.accepted))
	}

	newWorker(s, -1).handle(ctx, dropped)

	if err := c.Get(ctx, client.ObjectKeyFromObject(mt), &mesosv1alpha1.MesosTask{}); err != nil {
		t.Fatalf("the acknowledged update was not written: %v", err)
	}
	if s.Pending(mt.Spec.TaskID) || !s.LaunchUnwritten(mt.Spec.TaskID) {
		t.Errorf("queued again %v, launch remembered %v; want the launch remembered and the task not queued again",
			s.Pending(mt.Spec.TaskID), s.LaunchUnwritten(mt.Spec.TaskID))
	}
}

// An ACCEPT whose answer is lost (the master got it) leaves its task to Mesos's word; a
// reconciler's pass over a cache that does not show the binding yet queues the pod again.
// No round launches it again while Mesos may run it: its bind would be refused (the pod is
// bound), and that refusal forgot the first launch, whose updates then found no owner and
// had their task killed. (Found by the long chaos run: acknowledged unwritten.)
func TestATaskWhoseAcceptFailedIsNotLaunchedAgainFromAStaleCache(t *testing.T) {
	pod, mt := queuedPod(t, "job-5")
	binds := 0
	funcs := interceptor.Funcs{SubResourceCreate: func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
		binds++
		if binds > 1 {
			return apierrors.NewConflict(schema.GroupResource{Resource: "pods/binding"}, o.GetName(), errors.New("already assigned"))
		}
		return nil // bound, but the cache does not show it yet
	}}
	c := fakeAPIWith(t, funcs, pod)
	s, d := failedAccept(t, c, mt, pod)
	ctx := context.Background()

	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-2", 2)})

	if len(d.accepted) != 0 || binds != 1 {
		t.Errorf("%d ACCEPTs more and %d binds, want only the first launch's", len(d.accepted), binds)
	}
	newWorker(s, -1).handle(ctx, agentUpdate(mt.Spec.TaskID, mesos.TASK_RUNNING, "u-1"))
	if len(d.kills) != 0 {
		t.Fatalf("killed %v: the first launch's task found no owner", d.kills)
	}
	written := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mt), written); err != nil || written.Status.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Errorf("MesosTask %v (%v), want the first launch's update written", written.Status.Phase, err)
	}
}

// failedAccept is a scheduler on c that has queued a pod's task and launched it in an
// ACCEPT that failed (its answer lost), and asked Mesos about it; its driver's launches
// succeed from then on.
func failedAccept(t *testing.T, c client.Client, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) (*Scheduler, *fakeDriver) {
	t.Helper()
	d := newFakeDriver()
	d.launchErr = errBroken
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if len(d.reconciles) != 1 {
		t.Fatalf("reconciliations %v, want Mesos asked about the task of the failed ACCEPT", d.reconciles)
	}
	d.launchErr = nil
	return s, d
}
