package scheduler

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod the cluster binds has its MesosTask written once, when Mesos first reports its
// task: queued, placed, bound and launched, it has none, and the first update creates it
// with the task's state, where it runs, and the executor of the launch.

// writeLog records the MesosTask writes a fake API server takes.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if mt, ok := o.(*mesosv1alpha1.MesosTask); ok {
				w.add("create " + string(mt.Status.Phase))
			}
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if mt, ok := o.(*mesosv1alpha1.MesosTask); ok {
				w.add("update " + string(mt.Status.Phase))
			}
			return c.Update(ctx, o, opts...)
		},
	}
}

func (w *writeLog) add(s string) {
	w.mu.Lock()
	w.writes = append(w.writes, s)
	w.mu.Unlock()
}

func (w *writeLog) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// queuedPod is a pod the Pod reconciler queued: no MesosTask written, one to queue it with.
func queuedPod(t *testing.T, name string) (*corev1.Pod, *mesosv1alpha1.MesosTask) {
	t.Helper()
	pod, _ := podWithTask(name, "500m")
	mt, err := podtask.NewMesosTask(pod, &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return pod, mt
}

// queuedHere is a pod queued, its MesosTask unwritten, in a scheduler over a fake API
// server that logs the MesosTask writes.
type queuedHere struct {
	s      *Scheduler
	c      client.Client
	d      *fakeDriver
	rec    *events.FakeRecorder
	log    *writeLog
	pod    *corev1.Pod
	queued *mesosv1alpha1.MesosTask
}

func newQueuedHere(t *testing.T) *queuedHere {
	t.Helper()
	q := &queuedHere{log: &writeLog{}, d: newFakeDriver()}
	q.pod, q.queued = queuedPod(t, "p")
	q.c = fakeAPIWith(t, q.log.funcs(), q.pod)
	q.s, q.rec = newTestScheduler(q.c, q.d)
	q.s.Enqueue(context.Background(), q.queued, q.pod)
	return q
}

func TestALaunchWritesNoMesosTaskAndItsFirstUpdateWritesItOnce(t *testing.T) {
	h := newQueuedHere(t)
	s, c, d, rec, log, pod, queued := h.s, h.c, h.d, h.rec, h.log, h.pod, h.queued
	ctx := context.Background()
	if q, l := s.Unstored(); q != 1 || l != 0 {
		t.Fatalf("Unstored() = %d queued, %d launching; want 1, 0", q, l)
	}

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if got := d.launches["o-agent-1"]; len(got) != 1 || got[0] != queued.Spec.TaskID {
		t.Fatalf("launched %v, want [%s]", got, queued.Spec.TaskID)
	}
	if w := log.list(); len(w) != 0 {
		t.Fatalf("MesosTask writes of the launch: %v, want none (the binding records it)", w)
	}
	if q, l := s.Unstored(); q != 0 || l != 1 {
		t.Fatalf("Unstored() after the launch = %d queued, %d launching; want 0, 1", q, l)
	}
	if got := drain(rec); len(got) != 1 || !hasPrefixes(got, "Normal Scheduled Successfully assigned ns/p to mesos-c-agent-1; launched task") {
		t.Fatalf("events = %v, want one Scheduled", got)
	}

	w := &worker{s: s, grace: -1, starting: map[string]startingUpdate{}}
	w.handle(ctx, statusUpdate{status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: queued.Spec.TaskID}, AgentID: &mesos.AgentID{Value: "a-agent-1"},
		ExecutorID: &mesos.ExecutorID{Value: "other-executor"}, State: mesos.TASK_RUNNING.Enum(), UUID: []byte("0123456789abcdef")},
		ack: func(context.Context) error { return nil }})

	if w := log.list(); len(w) != 1 || w[0] != "create Running" {
		t.Fatalf("MesosTask writes of the first update: %v, want [create Running]", w)
	}
	mt := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), mt); err != nil {
		t.Fatal(err)
	}
	if mt.Status.AgentID != "a-agent-1" || mt.Status.Hostname != "agent-1" || mt.Status.LaunchedAt == nil || mt.Status.ObservedGeneration != 1 ||
		mt.Spec.ExecutorID != queued.Spec.ExecutorID || mt.Spec.NodeName != "" || len(mt.OwnerReferences) != 1 || mt.Finalizers[0] != podtask.TaskFinalizer {
		t.Errorf("the MesosTask written = %+v / %+v, want the launch's agent, host, time and executor, generation 1, owned and finalized", mt.Spec, mt.Status)
	}
	if _, l := s.Unstored(); l != 0 || s.LaunchUnwritten(queued.Spec.TaskID) {
		t.Errorf("the launch is still noted as unwritten")
	}
	_ = c.Get(ctx, client.ObjectKeyFromObject(pod), pod)
	if pod.Status.Phase != corev1.PodRunning {
		t.Errorf("the pod is %s, want Running", pod.Status.Phase)
	}
}

// A queued pod that fits nowhere says so on itself alone: it has no MesosTask to write.
func TestAQueuedPodThatFitsNowhereSaysSoOnThePod(t *testing.T) {
	pod, queued := queuedPod(t, "big")
	var log writeLog
	c := fakeAPIWith(t, log.funcs(), pod)
	s, _ := newTestScheduler(c, newFakeDriver())
	ctx := context.Background()
	s.Enqueue(ctx, queued, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 0.1)})

	if w := log.list(); len(w) != 0 {
		t.Errorf("MesosTask writes: %v, want none", w)
	}
	_ = c.Get(ctx, client.ObjectKeyFromObject(pod), pod)
	if len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Reason != corev1.PodReasonUnschedulable {
		t.Errorf("the pod's conditions = %+v, want PodScheduled=False/Unschedulable", pod.Status.Conditions)
	}
}

// boundWithoutMesosTask is a scheduler of the cluster of schedulerName mesos, over a fake
// API server with pod, bound to agent a-2's Node, and no MesosTask.
func boundWithoutMesosTask(t *testing.T, pod *corev1.Pod) (client.Client, *fakeDriver, *Scheduler) {
	t.Helper()
	pod.Spec.NodeName = "mesos-c-agent-2"
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-2",
		Annotations: map[string]string{agentnode.AnnotationAgentID: "a-2"}, Labels: map[string]string{corev1.LabelHostname: "agent-2", agentnode.LabelCluster: "c"}}}
	c := fakeAPI(t, pod, node)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.cluster.Spec.SchedulerName = "mesos"
	return c, d, s
}

// A pod bound by another whose status shows nothing of its task, and that has no
// MesosTask, is not asked about: it is the Pod reconciler's to take, which checks it
// before it is launched; Mesos's answer that it does not know the task would queue it.
func TestAPodBoundByAnotherThatShowsNothingIsNotAskedAbout(t *testing.T) {
	pod, _ := queuedPod(t, "p")
	pod.Spec.SchedulerName = corev1.DefaultSchedulerName
	_, d, s := boundWithoutMesosTask(t, pod)

	s.reconcileTasks(context.Background(), d)

	if calls := d.reconcileCalls(); len(calls) != 1 || len(calls[0]) != 0 {
		t.Fatalf("reconciliations = %v, want the implicit one only", calls)
	}
}

// After a subscription Mesos is asked about the task of every pod the cluster bound whose
// MesosTask is not written: a manager that stopped may have launched it. A task Mesos
// never saw is then queued again, on its pod's Node, with a MesosTask that says Pending.
func TestABoundPodWithoutMesosTaskIsAskedAboutAndRequeuedWhenMesosNeverSawIt(t *testing.T) {
	pod, queued := queuedPod(t, "p")
	c, d, s := boundWithoutMesosTask(t, pod)
	ctx := context.Background()

	s.reconcileTasks(ctx, d)

	if want := map[string]string{queued.Spec.TaskID: "a-2"}; len(d.reconciles) != 2 || !maps.Equal(d.reconciles[0], want) {
		t.Fatalf("reconciliations = %v, want explicit %v then implicit", d.reconciles, want)
	}
	answer(s, queued.Spec.TaskID, "a-2", mesos.TASK_GONE)

	mt := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), mt); err != nil {
		t.Fatal(err)
	}
	if mt.Status.Phase != mesosv1alpha1.TaskPhasePending || !s.Pending(queued.Spec.TaskID) || !d.isReconciled() {
		t.Errorf("after Mesos said it never saw the task: phase %q, queued %v, reconciled %v; want Pending, queued, reconciled",
			mt.Status.Phase, s.Pending(queued.Spec.TaskID), d.isReconciled())
	}
}

// A pod that ran, without a MesosTask (its create was deferred, or the MesosTasks are
// gone) and launched by an earlier manager, is asked about after a subscription, bound
// by the cluster or by another, and gets its record made again from what the pod says: Mesos's answer that it does not hold the task is the task's end, and the
// pod is Failed, not launched a second time; an answer that it runs keeps when it was
// launched and first ran.
func TestARunningPodWithoutMesosTaskIsNotLaunchedAgainWhenMesosLostItsTask(t *testing.T) {
	started := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	for _, tc := range []struct {
		name      string
		byAnother bool // bound by another scheduler, as a DaemonSet's pod
		state     mesos.TaskState
		phase     mesosv1alpha1.TaskPhase
		pod       corev1.PodPhase
	}{
		{"Mesos does not hold the task", false, mesos.TASK_GONE, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
		{"the task runs", false, mesos.TASK_RUNNING, mesosv1alpha1.TaskPhaseRunning, corev1.PodRunning},
		{"bound by another, Mesos does not hold the task", true, mesos.TASK_GONE, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
		{"bound by another, the task runs", true, mesos.TASK_RUNNING, mesosv1alpha1.TaskPhaseRunning, corev1.PodRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, queued := queuedPod(t, "p")
			if tc.byAnother {
				pod.Spec.SchedulerName = corev1.DefaultSchedulerName
			}
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: started}}}
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
			got := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if mt.Status.Phase != tc.phase || got.Status.Phase != tc.pod || s.Pending(queued.Spec.TaskID) || len(d.launches) != 0 {
				t.Fatalf("phase %s, pod %s, queued %v, launches %d; want %s, %s, not queued, none",
					mt.Status.Phase, got.Status.Phase, s.Pending(queued.Spec.TaskID), len(d.launches), tc.phase, tc.pod)
			}
			if !mt.Status.LaunchedAt.Equal(&started) {
				t.Errorf("launchedAt %v, want the pod's startTime %v", mt.Status.LaunchedAt, started)
			}
			if tc.state == mesos.TASK_RUNNING && !mt.Status.StartedAt.Equal(&started) {
				t.Errorf("startedAt %v, want %v", mt.Status.StartedAt, started)
			}
		})
	}
}

// An update of a task whose pod went before any update was written is answered by
// killing the task, and writes no MesosTask.
func TestAnUpdateOfATaskWhosePodWentKillsIt(t *testing.T) {
	pod, queued := queuedPod(t, "p")
	var log writeLog
	c := fakeAPIWith(t, log.funcs())
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.noteLaunch(queued.Spec.TaskID, launchNow("a-1", "agent-1"), &types.NamespacedName{Namespace: "ns", Name: "p"})

	answer(s, queued.Spec.TaskID, "a-1", mesos.TASK_RUNNING)

	if len(d.kills) != 1 || d.kills[0] != queued.Spec.TaskID {
		t.Errorf("kills = %v, want the task", d.kills)
	}
	if w := log.list(); len(w) != 0 {
		t.Errorf("MesosTask writes: %v, want none", w)
	}
	err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), &mesosv1alpha1.MesosTask{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the MesosTask: %v, want none", err)
	}
	if _, l := s.Unstored(); l != 0 {
		t.Errorf("the launch is still noted")
	}
}

// The first update may come before the cache shows the binding: a task this process
// launched is its pod's all the same, and its MesosTask is written, not the task killed.
func TestAFirstUpdateBeforeTheCacheSawTheBindingWritesTheMesosTask(t *testing.T) {
	h := newQueuedHere(t)
	s, c, d, log, pod, queued := h.s, h.c, h.d, h.log, h.pod, h.queued
	ctx := context.Background()
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	// As a cache that has not seen the binding: the pod unbound.
	stale := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), stale); err != nil {
		t.Fatal(err)
	}
	stale.Spec.NodeName = ""
	if err := c.Update(ctx, stale); err != nil {
		t.Fatal(err)
	}

	answer(s, queued.Spec.TaskID, "a-agent-1", mesos.TASK_RUNNING)

	if len(d.kills) != 0 {
		t.Errorf("killed %v, want none", d.kills)
	}
	if w := log.list(); len(w) != 1 || w[0] != "create Running" {
		t.Errorf("MesosTask writes: %v, want [create Running]", w)
	}
}

// A pod queued again before the cache shows its binding (the Pod reconciler saw it
// unbound) is not launched again, and the launch under way keeps its record: its first
// update writes its MesosTask.
func TestAPodQueuedAgainWhileItsLaunchIsUnwrittenIsNotLaunchedAgain(t *testing.T) {
	h := newQueuedHere(t)
	ctx := context.Background()
	h.s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	// As a cache that has not seen the binding: the pod unbound, and queued again.
	stale := &corev1.Pod{}
	if err := h.c.Get(ctx, client.ObjectKeyFromObject(h.pod), stale); err != nil {
		t.Fatal(err)
	}
	stale.Spec.NodeName = ""
	if err := h.c.Update(ctx, stale); err != nil {
		t.Fatal(err)
	}
	h.s.Enqueue(ctx, h.queued, stale)

	h.s.handleNew(ctx, []mesos.Offer{agentOffer("agent-2", 2)})

	if got := h.d.launches["o-agent-2"]; len(got) != 0 {
		t.Fatalf("launched again: %v", got)
	}
	if !h.s.LaunchUnwritten(h.queued.Spec.TaskID) || h.s.Pending(h.queued.Spec.TaskID) {
		t.Fatalf("after the second round: launch noted %v, queued %v; want noted, not queued",
			h.s.LaunchUnwritten(h.queued.Spec.TaskID), h.s.Pending(h.queued.Spec.TaskID))
	}
}

// An update that comes right behind the one that wrote a task's MesosTask (Mesos's
// answer to a reconciliation, say) may find a cache that shows neither that MesosTask
// nor the pod's binding: the task is still its pod's, and is not killed as one no pod
// owns. A pod that failed so ran once and was killed, in a spec of a lost ACCEPT answer.
func TestAnUpdateBeforeTheCacheSawItsMesosTaskIsItsPods(t *testing.T) {
	pod, queued := queuedPod(t, "p")
	api := fakeAPIWith(t, interceptor.Funcs{}, pod).(client.WithWatch)
	// As a cache behind the API server: no MesosTask, and the pod unbound.
	cache := interceptor.NewClient(api, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if _, ok := o.(*mesosv1alpha1.MesosTask); ok {
				return apierrors.NewNotFound(mesosv1alpha1.GroupVersion.WithResource("mesostasks").GroupResource(), key.Name)
			}
			err := c.Get(ctx, key, o, opts...)
			if p, ok := o.(*corev1.Pod); ok {
				p.Spec.NodeName = ""
			}
			return err
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			return nil // nothing found by task id
		},
	})
	d := newFakeDriver()
	s := New(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}},
		Options{Client: cache, APIReader: api, Recorder: events.NewFakeRecorder(100), Log: logr.Discard(), StartingGrace: -1})
	s.setDriver(d)
	ctx := context.Background()
	s.Enqueue(ctx, queued, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if len(d.accepted) != 1 {
		t.Fatalf("ACCEPTs %v, want the task's", d.accepted)
	}

	answer(s, queued.Spec.TaskID, "a-agent-1", mesos.TASK_RUNNING) // writes the MesosTask
	answer(s, queued.Spec.TaskID, "a-agent-1", mesos.TASK_RUNNING) // the cache has not seen it

	if len(d.kills) != 0 {
		t.Errorf("killed %v, want none", d.kills)
	}
	mt := &mesosv1alpha1.MesosTask{}
	if err := api.Get(ctx, client.ObjectKeyFromObject(pod), mt); err != nil || mt.Status.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Errorf("the MesosTask: %v, phase %q; want Running", err, mt.Status.Phase)
	}
}
