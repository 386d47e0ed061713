package scheduler

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// After a subscription Mesos is asked about every task that may run: launched and not
// ended, or bound by a manager that stopped before writing anything (its agent comes
// from its Node). Then all tasks implicitly; the cluster counts as reconciled once Mesos
// answered for every task asked about.
func TestReconciliationAsksAboutEveryTaskThatMayRun(t *testing.T) {
	running, runningTask := podWithTask("running", "100m")
	runningTask.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, AgentID: "a-1"}
	done, doneTask := podWithTask("done", "100m")
	doneTask.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFinished, AgentID: "a-1"}
	bound, boundTask := podWithTask("bound", "100m")
	bound.Spec.NodeName = "mesos-c-agent-2"
	queued, queuedTask := podWithTask("queued", "100m")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-2",
		Annotations: map[string]string{agentnode.AnnotationAgentID: "a-2"}, Labels: map[string]string{corev1.LabelHostname: "agent-2", agentnode.LabelCluster: "c"}}}
	c := fakeAPI(t, running, runningTask, done, doneTask, bound, boundTask, queued, queuedTask, node)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)

	s.reconcileTasks(context.Background(), d)

	want := map[string]string{runningTask.Spec.TaskID: "a-1", boundTask.Spec.TaskID: "a-2"}
	if len(d.reconciles) != 2 || !maps.Equal(d.reconciles[0], want) || d.reconciles[1] != nil {
		t.Fatalf("reconciliations = %v, want explicit %v then implicit", d.reconciles, want)
	}
	if d.isReconciled() {
		t.Fatal("the driver was told the tasks are reconciled before Mesos answered")
	}
	answer(s, runningTask.Spec.TaskID, "a-1", mesos.TASK_RUNNING)
	if d.isReconciled() {
		t.Fatal("the driver was told the tasks are reconciled with one answer missing")
	}
	answer(s, boundTask.Spec.TaskID, "a-2", mesos.TASK_RUNNING)
	if !d.isReconciled() {
		t.Fatal("the driver was not told the tasks are reconciled once Mesos answered for each")
	}
}

// With nothing to ask about, the cluster is reconciled once the implicit reconciliation
// went out.
func TestNothingToAskAboutIsReconciledAtOnce(t *testing.T) {
	c := fakeAPI(t)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)

	s.reconcileTasks(context.Background(), d)

	if !d.isReconciled() {
		t.Fatal("the driver was not told the tasks are reconciled")
	}
}

// Mesos may not answer for a task at once (an agent its master recovered from the
// registry has not re-registered yet): the tasks it did not answer for are asked about
// again, and the others not.
func TestTasksMesosDidNotAnswerForAreAskedAgain(t *testing.T) {
	a, aTask := podWithTask("a", "100m")
	aTask.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, AgentID: "a-1"}
	b, bTask := podWithTask("b", "100m")
	bTask.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, AgentID: "a-2"}
	c := fakeAPI(t, a, aTask, b, bTask)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.reconcileRetry = 250 * time.Millisecond // the answer below comes first, even under -race
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s.reconcileTasks(ctx, d)
	answer(s, aTask.Spec.TaskID, "a-1", mesos.TASK_RUNNING)

	waitFor(t, "the unanswered task asked about again", func() bool { return len(d.reconcileCalls()) >= 3 })
	if again := d.reconcileCalls()[2]; !maps.Equal(again, map[string]string{bTask.Spec.TaskID: "a-2"}) {
		t.Fatalf("asked again about %v, want only the unanswered task", again)
	}
	answer(s, bTask.Spec.TaskID, "a-2", mesos.TASK_RUNNING)
	if !d.isReconciled() {
		t.Fatal("the driver was not told the tasks are reconciled once Mesos answered for each")
	}
}

// A round of a subscription that ended never marks a later one reconciled.
func TestAnAnswerForAnEarlierSubscriptionIsNotReconciliation(t *testing.T) {
	pod, mt := podWithTask("p", "100m")
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, AgentID: "a-1"}
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)

	s.reconcileTasks(context.Background(), d)
	d.mu.Lock()
	d.subscription++
	d.mu.Unlock()
	answer(s, mt.Spec.TaskID, "a-1", mesos.TASK_RUNNING)

	if d.isReconciled() {
		t.Fatal("an answer to the round of an earlier subscription marked the current one reconciled")
	}
}

// answer hands the scheduler's worker Mesos's reconciliation answer for a task, as the
// update loop does.
func answer(s *Scheduler, taskID, agentID string, state mesos.TaskState) {
	w := &worker{s: s, grace: -1, starting: map[string]startingUpdate{}}
	w.handle(context.Background(), statusUpdate{status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID},
		AgentID: &mesos.AgentID{Value: agentID}, State: state.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum()},
		ack: func(context.Context) error { return nil }})
}

// A task just launched by this process is left out of the reconciliation, which could
// overtake its launch.
func TestAJustLaunchedTaskIsNotAskedAbout(t *testing.T) {
	pod, mt := podWithTask("p", "100m")
	pod.Spec.NodeName = "mesos-c-agent-1"
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.noteLaunch(mt.Spec.TaskID, launchNow("a-1", "agent-1"), nil)

	s.reconcileTasks(context.Background(), d)

	if len(d.reconciles) != 1 || d.reconciles[0] != nil {
		t.Fatalf("reconciliations = %v, want the implicit one only", d.reconciles)
	}
}

// A reconciliation whose call failed while the subscription goes on is sent again,
// not left to the next subscription or ReconcileInterval (15 minutes).
func TestAFailedReconciliationIsSentAgain(t *testing.T) {
	pod, mt := podWithTask("p", "100m")
	pod.Spec.NodeName = "mesos-c-agent-1"
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, AgentID: "a-1"}
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	d.reconcileFails = 1
	s, _ := newTestScheduler(c, d)
	s.reconcileRetry = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s.reconcileTasks(ctx, d)

	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := d.reconcileCalls()
		if len(calls) >= 3 {
			if calls[1][mt.Spec.TaskID] != "a-1" || calls[2] != nil {
				t.Errorf("reconciliations %v, want the failed explicit one, then it again and the implicit one", calls)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reconciliations %v: the failed one was not sent again", calls)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A reconciliation that could not start, its tasks not listed (or the pods bound to its
// agents), is tried again while the subscription goes on: until one is answered, pods of
// agents still unreachable wait for NodeLost and pods after an outage for Ready.
func TestAReconciliationThatCouldNotListIsTriedAgain(t *testing.T) {
	for _, what := range []string{"tasks", "pods"} {
		t.Run(what, func(t *testing.T) {
			pod, mt := podWithTask("p", "100m")
			pod.Spec.NodeName = "mesos-c-agent-1"
			mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, AgentID: "a-1"}
			var failed atomic.Int32
			c := fakeAPIWith(t, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				// The bound pods are listed by their Nodes first.
				_, tasks := list.(*mesosv1alpha1.MesosTaskList)
				_, nodes := list.(*corev1.NodeList)
				if ((what == "tasks" && tasks) || (what == "pods" && nodes)) && failed.Add(1) == 1 {
					return errors.New("the cache is not synced")
				}
				return c.List(ctx, list, opts...)
			}}, pod, mt)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			s.reconcileRetry = 50 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			s.reconcileTasks(ctx, d)

			for deadline := time.Now().Add(5 * time.Second); len(d.reconcileCalls()) < 2; time.Sleep(20 * time.Millisecond) {
				if failed.Load() == 0 {
					t.Fatal("no list failed")
				}
				if time.Now().After(deadline) {
					t.Fatalf("reconciliations %v: none sent after the list failed", d.reconcileCalls())
				}
			}
			if calls := d.reconcileCalls(); calls[0][mt.Spec.TaskID] != "a-1" || calls[1] != nil {
				t.Errorf("reconciliations %v; want the explicit one, then the implicit one", calls)
			}
		})
	}
}

// An update of a task that no MesosTask owns is answered by killing the task, unless the
// task ended.
func TestATaskNoMesosTaskOwnsIsKilled(t *testing.T) {
	c := fakeAPI(t)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	for _, state := range []mesos.TaskState{mesos.TASK_RUNNING, mesos.TASK_FINISHED} {
		ts := mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm." + state.String()}, State: state.Enum(), AgentID: &mesos.AgentID{Value: "a-1"}}
		if err := s.persist(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.kills) != 1 || d.kills[0] != "k8sm.TASK_RUNNING" {
		t.Fatalf("killed %v, want only the running task", d.kills)
	}
}

// A launch Mesos never saw (TASK_LOST from reconciliation, no update written) goes back
// to the queue, to be launched again.
func TestALaunchMesosNeverSawIsQueuedAgain(t *testing.T) {
	pod, mt := podWithTask("p", "100m")
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, AgentID: "a-1"}
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	reason := mesos.REASON_RECONCILIATION
	ts := mesos.TaskStatus{TaskID: mesos.TaskID{Value: mt.Spec.TaskID}, State: mesos.TASK_LOST.Enum(), Reason: &reason}

	if err := s.persist(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
	if !s.Pending(mt.Spec.TaskID) {
		t.Fatal("the task Mesos never ran is not queued again")
	}
}

// A task Mesos reports running after k8sm took it for ended (lost in a reconciliation,
// then its agent came back) is killed, and its MesosTask stays as it ended.
func TestATaskReportedRunningAfterItEndedIsKilled(t *testing.T) {
	pod, mt := podWithTask("p", "100m")
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseGone, MesosState: "TASK_LOST", AgentID: "a-1"}
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ts := mesos.TaskStatus{TaskID: mesos.TaskID{Value: mt.Spec.TaskID}, State: mesos.TASK_RUNNING.Enum(), AgentID: &mesos.AgentID{Value: "a-1"}}

	if err := s.persist(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
	if len(d.kills) != 1 || d.kills[0] != mt.Spec.TaskID {
		t.Fatalf("killed %v, want %s", d.kills, mt.Spec.TaskID)
	}
	got := &mesosv1alpha1.MesosTask{}
	_ = c.Get(context.Background(), client.ObjectKeyFromObject(mt), got)
	if got.Status.Phase != mesosv1alpha1.TaskPhaseGone {
		t.Fatalf("phase = %s, want it to stay Gone", got.Status.Phase)
	}
}

// A bound pod whose launch nothing recorded is asked about only with its agent, read off
// its Node: asked without one, a master that failed over says it does not know the task
// while the agent has not registered again, and the task, taken for one never run, was
// launched again there. Without its Node in the cache it is not asked about, by either
// way it may be asked (its MesosTask saying nothing, or none written).
func TestABoundTaskIsAskedAboutOnlyWithItsAgent(t *testing.T) {
	unwritten, _ := podWithTask("unwritten", "100m")
	unwritten.Spec.NodeName = "mesos-c-agent-2"
	bound, boundTask := podWithTask("bound", "100m")
	bound.Spec.NodeName = "mesos-c-agent-2"
	c := fakeAPI(t, unwritten, bound, boundTask) // no Node
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)

	s.reconcileTasks(context.Background(), d)

	for _, r := range d.reconciles {
		if len(r) > 0 {
			t.Fatalf("reconciliations = %v, want only the implicit one: no task's agent is known", d.reconciles)
		}
	}
}
