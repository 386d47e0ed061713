package scheduler

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

// updateHarness runs a Scheduler's update workers over a fake API with one launched
// task, and records the order of MesosTask status writes and acknowledgements.
type updateHarness struct {
	s   *Scheduler
	c   client.Client
	key client.ObjectKey

	mu  sync.Mutex
	log []string
}

// launchedTask is a bound pod and its MesosTask, launched (Staging) on agent a1.
func launchedTask() (*corev1.Pod, *mesosv1alpha1.MesosTask) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"}, Spec: corev1.PodSpec{NodeName: "n"}}
	mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: "k8sm.u1"},
		Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, AgentID: "a1"}}
	return pod, mt
}

func newUpdateHarness(t *testing.T, grace time.Duration) *updateHarness {
	t.Helper()
	h := &updateHarness{key: client.ObjectKey{Namespace: "ns", Name: "p"}}
	pod, mt := launchedTask()
	h.c = fakeAPIWith(t, interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
		if t, ok := o.(*mesosv1alpha1.MesosTask); ok {
			h.record("write " + string(t.Status.Phase))
		}
		return c.Update(ctx, o, opts...)
	}}, pod, mt)
	h.s = New(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
		Options{Client: h.c, Recorder: events.NewFakeRecorder(100), Log: logr.Discard(), StartingGrace: grace})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.s.Start(ctx)
	return h
}

func (h *updateHarness) record(s string) {
	h.mu.Lock()
	h.log = append(h.log, s)
	h.mu.Unlock()
}

func (h *updateHarness) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.log...)
}

// send hands an agent update (with a uuid) to the scheduler and waits for its ack.
func (h *updateHarness) send(t *testing.T, state mesos.TaskState) {
	t.Helper()
	acked := make(chan struct{})
	h.s.Update(context.Background(), mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: state.Enum(),
		AgentID: &mesos.AgentID{Value: "a1"}, UUID: []byte("0123456789abcdef")},
		func(context.Context) error { h.record("ack " + state.String()); close(acked); return nil })
	select {
	case <-acked:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was never acknowledged; so far: %v", state, h.events())
	}
}

func (h *updateHarness) phase(t *testing.T) mesosv1alpha1.TaskPhase {
	t.Helper()
	mt := &mesosv1alpha1.MesosTask{}
	if err := h.c.Get(context.Background(), h.key, mt); err != nil {
		t.Fatal(err)
	}
	return mt.Status.Phase
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunningRightAfterStartingIsOneWrite(t *testing.T) {
	h := newUpdateHarness(t, time.Hour)
	h.send(t, mesos.TASK_STARTING)
	h.send(t, mesos.TASK_RUNNING)
	want := []string{"ack TASK_STARTING", "write Running", "ack TASK_RUNNING"}
	if got := h.events(); !equalStrings(got, want) {
		t.Fatalf("writes and acks = %v, want %v", got, want)
	}
}

func TestATaskStillStartingIsWrittenAfterTheGrace(t *testing.T) {
	h := newUpdateHarness(t, 50*time.Millisecond)
	h.send(t, mesos.TASK_STARTING)
	waitFor(t, "the MesosTask to say Starting", func() bool { return h.phase(t) == mesosv1alpha1.TaskPhaseStarting })
	h.send(t, mesos.TASK_RUNNING)
	want := []string{"ack TASK_STARTING", "write Starting", "write Running", "ack TASK_RUNNING"}
	if got := h.events(); !equalStrings(got, want) {
		t.Fatalf("writes and acks = %v, want %v", got, want)
	}
}

// launchUnwritten makes the harness's task one this scheduler just launched on agent-1,
// whose MesosTask says nothing yet (the binding is its record).
func (h *updateHarness) launchUnwritten(t *testing.T) {
	t.Helper()
	mt := &mesosv1alpha1.MesosTask{}
	if err := h.c.Get(context.Background(), h.key, mt); err != nil {
		t.Fatal(err)
	}
	mt.Status = mesosv1alpha1.MesosTaskStatus{}
	if err := h.c.Update(context.Background(), mt); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.log = nil
	h.mu.Unlock()
	h.s.mu.Lock()
	h.s.launches["k8sm.u1"] = podtask.Launch{AgentID: "a1", Hostname: "agent-1", At: metav1.Now()}
	h.s.mu.Unlock()
	h.s.launched(&mesos.TaskInfo{TaskID: mesos.TaskID{Value: "k8sm.u1"}, AgentID: mesos.AgentID{Value: "a1"}})
}

func (h *updateHarness) task(t *testing.T) *mesosv1alpha1.MesosTask {
	t.Helper()
	mt := &mesosv1alpha1.MesosTask{}
	if err := h.c.Get(context.Background(), h.key, mt); err != nil {
		t.Fatal(err)
	}
	return mt
}

func TestALaunchIsWrittenWithItsFirstUpdate(t *testing.T) {
	h := newUpdateHarness(t, time.Hour)
	h.launchUnwritten(t)
	h.send(t, mesos.TASK_RUNNING)
	if got, want := h.events(), []string{"write Running", "ack TASK_RUNNING"}; !equalStrings(got, want) {
		t.Fatalf("writes and acks = %v, want %v", got, want)
	}
	mt := h.task(t)
	if mt.Status.Hostname != "agent-1" || mt.Status.AgentID != "a1" || mt.Status.LaunchedAt == nil ||
		!meta.IsStatusConditionTrue(mt.Status.Conditions, mesosv1alpha1.TaskConditionScheduled) {
		t.Fatalf("the RUNNING write does not record the launch: %+v", mt.Status)
	}
	if _, known := h.s.launchOf("k8sm.u1"); known {
		t.Fatal("the launch is still remembered after it was written")
	}
}

func TestALaunchNoUpdateFollowsIsWrittenAfterTheGrace(t *testing.T) {
	h := newUpdateHarness(t, 30*time.Millisecond)
	h.launchUnwritten(t)
	waitFor(t, "the MesosTask to say Staging", func() bool { return h.phase(t) == mesosv1alpha1.TaskPhaseStaging })
	if mt := h.task(t); mt.Status.Hostname != "agent-1" || mt.Status.LaunchedAt == nil {
		t.Fatalf("the launch is written without where and when: %+v", mt.Status)
	}
	h.send(t, mesos.TASK_RUNNING)
	if got, want := h.events(), []string{"write Staging", "write Running", "ack TASK_RUNNING"}; !equalStrings(got, want) {
		t.Fatalf("writes and acks = %v, want %v", got, want)
	}
}

func TestWithoutGraceEveryUpdateIsWrittenBeforeItsAck(t *testing.T) {
	h := newUpdateHarness(t, -1)
	h.send(t, mesos.TASK_STARTING)
	h.send(t, mesos.TASK_RUNNING)
	want := []string{"write Starting", "ack TASK_STARTING", "write Running", "ack TASK_RUNNING"}
	if got := h.events(); !equalStrings(got, want) {
		t.Fatalf("writes and acks = %v, want %v", got, want)
	}
}

func TestDueStarting(t *testing.T) {
	now := time.Now()
	starting := func(id string) mesos.TaskStatus {
		return mesos.TaskStatus{TaskID: mesos.TaskID{Value: id}, State: mesos.TASK_STARTING.Enum()}
	}
	pending := func() map[string]startingUpdate {
		return map[string]startingUpdate{
			"past": {status: starting("past"), due: now.Add(-time.Second)},
			"now":  {status: starting("now"), due: now},
			"soon": {status: starting("soon"), due: now.Add(time.Second)},
		}
	}
	for _, tc := range []struct {
		name   string
		queued int
		want   []string
		left   []string
	}{
		{"caught up: the due ones", 0, []string{"now", "past"}, []string{"soon"}},
		{"updates queued: none, they may make them moot", 3, nil, []string{"now", "past", "soon"}},
	} {
		p := pending()
		var got []string
		for _, d := range dueStarting(p, now, tc.queued) {
			got = append(got, d.status.TaskID.Value)
		}
		var left []string
		for id := range p {
			left = append(left, id)
		}
		sort.Strings(got)
		sort.Strings(left)
		if !equalStrings(got, tc.want) || !equalStrings(left, tc.left) {
			t.Errorf("%s: written %v, left %v; want %v, %v", tc.name, got, left, tc.want, tc.left)
		}
	}
}

func TestDeferrable(t *testing.T) {
	uuid := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name string
		ts   mesos.TaskStatus
		want bool
	}{
		{"agent STARTING", mesos.TaskStatus{State: mesos.TASK_STARTING.Enum(), UUID: uuid}, true},
		{"STARTING from reconciliation", mesos.TaskStatus{State: mesos.TASK_STARTING.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum()}, false},
		{"STARTING without uuid", mesos.TaskStatus{State: mesos.TASK_STARTING.Enum()}, false},
		{"RUNNING", mesos.TaskStatus{State: mesos.TASK_RUNNING.Enum(), UUID: uuid}, false},
		{"FAILED", mesos.TaskStatus{State: mesos.TASK_FAILED.Enum(), UUID: uuid}, false},
	} {
		if got := deferrable(tc.ts); got != tc.want {
			t.Errorf("%s: deferrable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The queue is placed in kube-scheduler's order: higher priority first, then the oldest
// pod, so that a pod that waited for room gets it before newer ones.
func TestSortQueue(t *testing.T) {
	t0 := time.Now()
	task := func(id string, priority int32, age time.Duration) pendingTask {
		return pendingTask{request: placement.Request{ID: id}, priority: priority, created: t0.Add(-age)}
	}
	q := []pendingTask{
		task("new", 0, time.Second), task("old", 0, time.Hour), task("urgent-new", 1000, time.Second),
		task("b-same-age", 0, time.Minute), task("a-same-age", 0, time.Minute), task("low", -5, 2*time.Hour),
		task("same-second-queued-later", 0, 30*time.Second), task("same-second-queued-first", 0, 30*time.Second),
	}
	q[6].queued, q[7].queued = t0.Add(time.Millisecond), t0
	sortQueue(q)
	var got []string
	for _, p := range q {
		got = append(got, p.request.ID)
	}
	want := []string{"urgent-new", "old", "a-same-age", "b-same-age", "same-second-queued-first", "same-second-queued-later", "new", "low"}
	if !equalStrings(got, want) {
		t.Fatalf("queue order = %v, want %v", got, want)
	}
}

// What the scheduler remembers of a launch goes with the first update, also when the
// task's MesosTask went before any was written.
func TestALaunchIsForgottenWhenItsMesosTaskWent(t *testing.T) {
	h := newUpdateHarness(t, time.Hour)
	h.s.mu.Lock()
	h.s.launches["k8sm.gone"] = podtask.Launch{AgentID: "a1", Hostname: "agent-1", At: metav1.Now()}
	h.s.mu.Unlock()
	acked := make(chan struct{})
	h.s.Update(context.Background(), mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.gone"}, State: mesos.TASK_KILLED.Enum(),
		AgentID: &mesos.AgentID{Value: "a1"}, UUID: []byte("0123456789abcdef")},
		func(context.Context) error { close(acked); return nil })
	select {
	case <-acked:
	case <-time.After(10 * time.Second):
		t.Fatal("the update was never acknowledged")
	}
	if _, known := h.s.launchOf("k8sm.gone"); known {
		t.Fatal("the launch of a task without a MesosTask is still remembered")
	}
}

// The framework's event loop hands updates over without ever waiting, even while the
// API server is too slow for the workers to keep up: a waiting event loop misses the
// master's heartbeats and loses the subscription.
func TestUpdatesNeverHoldUpTheEventLoop(t *testing.T) {
	release := make(chan struct{})
	c := fakeAPIWith(t, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
		<-release // an API server that does not answer
		return c.List(ctx, l, opts...)
	}})
	s, _ := newTestScheduler(c, newFakeDriver())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	defer close(release)

	handed := make(chan struct{})
	go func() {
		defer close(handed)
		for i := range 2000 { // all on a few shards, far more than any buffer
			s.Update(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.t" + string(rune('a'+i%3))}, State: mesos.TASK_RUNNING.Enum()},
				func(context.Context) error { return nil })
		}
	}()
	select {
	case <-handed:
	case <-time.After(10 * time.Second):
		t.Fatal("Update waited for the update workers: the event loop would miss heartbeats")
	}
}

// An agent sends an update again until it is acknowledged: a copy that comes while the
// update still waits in its worker's queue is dropped (the acknowledgement of the one
// queued is the copy's too); one that comes after a worker took the update is handled
// again (it may not get acknowledged); a new update is never dropped.
func TestACopyOfAQueuedUpdateIsDropped(t *testing.T) {
	pod, mt := launchedTask()
	writing, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c := fakeAPIWith(t, interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
		if _, ok := o.(*mesosv1alpha1.MesosTask); ok {
			once.Do(func() { close(writing); <-release }) // an API server slow to answer the first write
		}
		return c.Update(ctx, o, opts...)
	}}, pod, mt)
	s := New(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
		Options{Client: c, Recorder: events.NewFakeRecorder(100), Log: logr.Discard(), StartingGrace: -1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)

	var mu sync.Mutex
	var acked []string
	finished := make(chan struct{})
	update := func(state mesos.TaskState, uuid string) {
		s.Update(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: state.Enum(), AgentID: &mesos.AgentID{Value: "a1"}, UUID: []byte(uuid)},
			func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				acked = append(acked, state.String())
				if state == mesos.TASK_FINISHED {
					close(finished)
				}
				return nil
			})
	}
	update(mesos.TASK_RUNNING, "uuid-running")
	<-writing                                  // the worker took it, and waits for the API server
	update(mesos.TASK_RUNNING, "uuid-running") // sent again: queued, the worker took the first
	update(mesos.TASK_RUNNING, "uuid-running") // and again, while that copy is queued: dropped
	update(mesos.TASK_FINISHED, "uuid-finished")
	close(release)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("TASK_FINISHED was never acknowledged")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"TASK_RUNNING", "TASK_RUNNING", "TASK_FINISHED"}; !equalStrings(acked, want) {
		t.Fatalf("acknowledged %v, want %v", acked, want)
	}
}
