package scheduler

import (
	"context"
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// launchedTwo is a scheduler that launched the pods p1 and p2 (their names generated) on
// agent-1, neither's MesosTask written, over a fake API server that logs the MesosTask writes, and a
// worker that defers MesosTask creates while busy. mutate changes both pods first.
func launchedTwo(t *testing.T, mutate ...func(*corev1.Pod)) (*Scheduler, client.Client, *writeLog, *worker, [2]*corev1.Pod, [2]string) {
	t.Helper()
	log := &writeLog{}
	p1, q1 := queuedPod(t, "p1")
	p2, q2 := queuedPod(t, "p2")
	// A ReplicaSet's pods, named by the API server.
	p1.GenerateName, p2.GenerateName = "p", "p"
	for _, m := range mutate {
		m(p1)
		m(p2)
	}
	c := fakeAPIWith(t, log.funcs(), p1, p2)
	s, _ := newTestScheduler(c, newFakeDriver())
	ctx := context.Background()
	s.Enqueue(ctx, q1, p1)
	s.Enqueue(ctx, q2, p2)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if !s.LaunchUnwritten(q1.Spec.TaskID) || !s.LaunchUnwritten(q2.Spec.TaskID) {
		t.Fatalf("p1 and p2 not launched")
	}
	w := &worker{s: s, grace: -1, starting: map[string]startingUpdate{}, idle: time.Second}
	return s, c, log, w, [2]*corev1.Pod{p1, p2}, [2]string{q1.Spec.TaskID, q2.Spec.TaskID}
}

// handleBusy has the worker handle an update with another queued behind it, as in a
// burst: a first RUNNING's create may be deferred.
func handleBusy(ctx context.Context, w *worker, u statusUpdate) {
	w.backlog = 1
	w.handle(ctx, u)
}

// acked is an agent's update that notes its acknowledgement.
func acked(taskID string, state mesos.TaskState, uuid string, done *bool) statusUpdate {
	u := agentUpdate(taskID, state, uuid)
	u.status.AgentID = &mesos.AgentID{Value: "a-agent-1"}
	u.ack = func(context.Context) error { *done = true; return nil }
	return u
}

// podPhase is the phase of a pod as the API server has it.
func podPhase(t *testing.T, c client.Client, pod *corev1.Pod) corev1.PodPhase {
	t.Helper()
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), p); err != nil {
		t.Fatal(err)
	}
	return p.Status.Phase
}

// A worker with a backlog of updates writes a RUNNING's pod status and acknowledges it
// at once, and creates its MesosTask only once it has been idle a while (or the create
// has waited RecordMost): a burst's pods are not kept waiting behind the API server's
// most expensive write. A worker without a backlog writes the MesosTask at once.
func TestABusyWorkerDefersMesosTaskCreates(t *testing.T) {
	s, c, log, w, pods, ids := launchedTwo(t)
	ctx := context.Background()
	var ack1, ack2 bool
	w.handle(ctx, acked(ids[0], mesos.TASK_RUNNING, "0123456789abcde1", &ack1))
	if got := log.list(); len(got) != 1 || got[0] != "create Running" {
		t.Fatalf("MesosTask writes of the first update = %v, want [create Running]: no update waited behind it", got)
	}
	w.backlog = 3
	w.handle(ctx, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", &ack2))
	if got := log.list(); len(got) != 1 {
		t.Fatalf("MesosTask writes = %v, want p2's deferred", got)
	}
	if !ack1 || !ack2 || podPhase(t, c, pods[1]) != corev1.PodRunning {
		t.Fatalf("acknowledged %v, %v, p2 %s: want both acknowledged and p2 Running", ack1, ack2, podPhase(t, c, pods[1]))
	}
	if !s.LaunchUnwritten(ids[1]) {
		t.Fatalf("p2's launch is forgotten before its MesosTask is written")
	}

	// Busy still: nothing written.
	now := time.Now()
	w.lastHandled = now
	w.flush(ctx, now, 0)
	if got := log.list(); len(got) != 1 {
		t.Fatalf("MesosTask writes while busy = %v, want p2's still deferred", got)
	}
	// Idle: written.
	w.flush(ctx, now.Add(w.idle), 0)
	if got := log.list(); len(got) != 2 || got[1] != "create Running" {
		t.Fatalf("MesosTask writes once idle = %v, want p2's created Running", got)
	}
	mt := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pods[1]), mt); err != nil || mt.Status.AgentID != "a-agent-1" || mt.Status.StartedAt == nil {
		t.Fatalf("p2's MesosTask %+v (%v), want it Running on a-agent-1", mt.Status, err)
	}
	if s.LaunchUnwritten(ids[1]) {
		t.Errorf("p2's launch is still noted as unwritten")
	}
}

// A worker that keeps up with its updates (none queued) but is never idle writes a
// deferred create once it has waited RecordMost.
func TestADeferredMesosTaskCreateWaitsRecordMostWhileTheWorkerKeepsUp(t *testing.T) {
	_, _, log, w, _, ids := launchedTwo(t)
	ctx := context.Background()
	var ack bool
	handleBusy(ctx, w, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", &ack))
	if got := log.list(); len(got) != 0 {
		t.Fatalf("MesosTask writes = %v, want the create deferred", got)
	}
	later := time.Now().Add(RecordMost - time.Second)
	w.lastHandled = later
	w.writeRecords(ctx, later)
	if got := log.list(); len(got) != 0 {
		t.Fatalf("MesosTask writes before RecordMost = %v, want none", got)
	}
	later = later.Add(2 * time.Second)
	w.lastHandled = later
	w.writeRecords(ctx, later)
	if got := log.list(); len(got) != 1 {
		t.Fatalf("MesosTask writes after RecordMost = %v, want the create", got)
	}
}

// A burst that keeps its worker behind (updates queued all along) keeps the creates
// deferred past RecordMost, for its pods' sake, but not past RecordLongest.
func TestADeferredMesosTaskCreateWaitsRecordLongestBehindABurst(t *testing.T) {
	_, _, log, w, _, ids := launchedTwo(t)
	ctx := context.Background()
	handleBusy(ctx, w, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", new(bool)))
	w.queued = func() int { return 50 }
	for _, after := range []time.Duration{RecordMost + time.Second, RecordLongest - time.Second} {
		now := time.Now().Add(after)
		w.lastHandled = now
		w.writeRecords(ctx, now)
		if got := log.list(); len(got) != 0 {
			t.Fatalf("MesosTask writes %v after the update, updates queued = %v, want none", after, got)
		}
	}
	now := time.Now().Add(RecordLongest + time.Second)
	w.lastHandled = now
	w.writeRecords(ctx, now)
	if got := log.list(); len(got) != 1 {
		t.Fatalf("MesosTask writes after RecordLongest = %v, want the create", got)
	}
}

func TestRecordDue(t *testing.T) {
	for _, c := range []struct {
		age          time.Duration
		idle, queued bool
		want         bool
	}{
		{age: 0, idle: true, want: true},
		{age: 0, want: false},
		{age: RecordMost - time.Second, want: false},
		{age: RecordMost, want: true},
		{age: RecordMost, queued: true, want: false},
		{age: RecordLongest - time.Second, queued: true, want: false},
		{age: RecordLongest, queued: true, want: true},
	} {
		if got := recordDue(c.age, c.idle, c.queued); got != c.want {
			t.Errorf("recordDue(%v, idle %v, queued %v) = %v, want %v", c.age, c.idle, c.queued, got, c.want)
		}
	}
}

// A deferred update is kept without the executor's pod status (its data): the pod's
// status was written from it, and the MesosTask's create later leaves it as it is: its
// containers' statuses, and its readiness, a native sidecar's included.
func TestADeferredUpdateKeepsNoPodStatus(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	for _, tc := range []struct {
		name  string
		data  string
		ready bool
	}{
		{name: "ready", ready: true,
			data: `{"conditions":[{"type":"ContainersReady","status":"True"}],"containerStatuses":[{"name":"c","ready":true,"started":true,"state":{"running":{}}}],` +
				`"initContainerStatuses":[{"name":"s","ready":true,"started":true,"state":{"running":{}}}]}`},
		{name: "its sidecar not ready",
			data: `{"conditions":[{"type":"ContainersReady","status":"False"}],"containerStatuses":[{"name":"c","ready":true,"started":true,"state":{"running":{}}}],` +
				`"initContainerStatuses":[{"name":"s","ready":false,"started":true,"state":{"running":{}}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, log, w, pods, ids := launchedTwo(t, func(p *corev1.Pod) {
				p.Spec.Containers[0].Name = "c"
				p.Spec.InitContainers = []corev1.Container{{Name: "s", Image: "busybox", RestartPolicy: &always}}
			})
			ctx := context.Background()
			u := acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", new(bool))
			u.status.Data = []byte(tc.data)
			u.status.ContainerStatus = &mesos.ContainerStatus{ContainerID: &mesos.ContainerID{Value: "c-1"},
				NetworkInfos: []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{{IPAddress: ptr.To("10.0.0.7")}}}}}
			handleBusy(ctx, w, u)
			r, ok := w.records[ids[1]]
			if kept := r.statuses(ids[1]); !ok || len(kept) != 1 || kept[0].Data != nil || kept[0].ContainerStatus != nil {
				t.Fatalf("record %+v (kept %v), want the update kept without its data and container status", r, ok)
			}
			check := func(when string) {
				p := &corev1.Pod{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(pods[1]), p); err != nil {
					t.Fatal(err)
				}
				if len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready || len(p.Status.InitContainerStatuses) != 1 {
					t.Fatalf("%s: container statuses %+v %+v, want the executor's", when, p.Status.ContainerStatuses, p.Status.InitContainerStatuses)
				}
				ready := false
				for _, cond := range p.Status.Conditions {
					if cond.Type == corev1.PodReady {
						ready = cond.Status == corev1.ConditionTrue
					}
				}
				if ready != tc.ready {
					t.Errorf("%s: Ready %v, want %v", when, ready, tc.ready)
				}
			}
			check("the pod's status written")
			w.flush(ctx, time.Now().Add(w.idle), 0)
			if got := log.list(); len(got) != 1 || got[0] != "create Running" {
				t.Fatalf("MesosTask writes once idle = %v, want the create", got)
			}
			check("the deferred create written")
		})
	}
}

// The update after a deferred RUNNING is written on top of it, in one create: the
// MesosTask says the task ran, and ended.
func TestTheUpdateAfterADeferredCreateWritesBoth(t *testing.T) {
	_, c, log, w, pods, ids := launchedTwo(t)
	ctx := context.Background()
	var ack1, ack2 bool
	handleBusy(ctx, w, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", &ack1))
	w.handle(ctx, acked(ids[1], mesos.TASK_FINISHED, "0123456789abcde3", &ack2))
	if got := log.list(); len(got) != 1 || got[0] != "create Finished" {
		t.Fatalf("MesosTask writes = %v, want one create, Finished", got)
	}
	mt := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pods[1]), mt); err != nil || mt.Status.StartedAt == nil || mt.Status.FinishedAt == nil {
		t.Fatalf("p2's MesosTask %+v (%v), want it started and finished", mt.Status, err)
	}
	if len(w.records) != 0 {
		t.Errorf("records %v, want none left", w.records)
	}
	w.flush(ctx, time.Now().Add(time.Hour), 0)
	if got := log.list(); len(got) != 1 {
		t.Errorf("MesosTask writes after a flush = %v, want nothing more", got)
	}
}

// A deferred RUNNING whose acknowledgement failed is written at once: Mesos sends it
// again, but the earlier updates written with it would otherwise be lost.
func TestADeferredCreateWhoseAcknowledgementFailedIsWritten(t *testing.T) {
	_, c, log, w, pods, ids := launchedTwo(t)
	ctx := context.Background()
	u := acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", new(bool))
	u.ack = func(context.Context) error { return errBroken }
	handleBusy(ctx, w, u)
	if got := log.list(); len(got) != 1 || got[0] != "create Running" {
		t.Fatalf("MesosTask writes = %v, want the create", got)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pods[1]), &mesosv1alpha1.MesosTask{}); apierrors.IsNotFound(err) {
		t.Fatal("no MesosTask")
	}
}

// A second RUNNING of a task whose create is deferred (the pod's status changed, or the
// agent sent it again) writes the MesosTask, on top of the first: no create waits for
// the burst's end on that task's account, nor keeps a growing list of updates.
func TestASecondRunningWritesTheDeferredCreate(t *testing.T) {
	_, _, log, w, _, ids := launchedTwo(t)
	ctx := context.Background()
	handleBusy(ctx, w, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", new(bool)))
	handleBusy(ctx, w, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde3", new(bool)))
	if got := log.list(); len(got) != 1 || got[0] != "create Running" {
		t.Fatalf("MesosTask writes = %v, want the create", got)
	}
	if len(w.records) != 0 {
		t.Errorf("records %v, want none left", w.records)
	}
}

// A pod whose name was not generated (a StatefulSet's) has its MesosTask created at
// once, backlog or not: made again under its name, it waits for that MesosTask's task to
// end, which a deferred create would leave missing.
func TestANamedPodsCreateIsNotDeferred(t *testing.T) {
	s, c, log, w, pods, ids := launchedTwo(t)
	ctx := context.Background()
	p := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pods[1]), p); err != nil {
		t.Fatal(err)
	}
	p.GenerateName = ""
	if err := c.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.backlog = 5
	w.handle(ctx, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", new(bool)))
	if got := log.list(); len(got) != 1 || got[0] != "create Running" {
		t.Fatalf("MesosTask writes = %v, want the create at once", got)
	}
	if s.LaunchUnwritten(ids[1]) || len(w.records) != 0 {
		t.Errorf("the launch is still noted as unwritten, or a record kept")
	}
}

// A worker idle long enough writes its deferred creates until updates queue up again:
// the pods of a new burst go first.
func TestDeferredCreatesGiveWayToANewBurst(t *testing.T) {
	_, _, log, w, _, ids := launchedTwo(t)
	ctx := context.Background()
	handleBusy(ctx, w, acked(ids[0], mesos.TASK_RUNNING, "0123456789abcde1", new(bool)))
	handleBusy(ctx, w, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", new(bool)))
	if len(w.records) != 2 {
		t.Fatalf("records %v, want both deferred", w.records)
	}
	w.queued = func() int { return 3 }
	w.writeRecords(ctx, time.Now().Add(w.idle))
	if got := log.list(); len(got) != 0 {
		t.Fatalf("MesosTask writes with updates queued = %v, want none", got)
	}
	w.queued = func() int { return 0 }
	w.writeRecords(ctx, time.Now().Add(w.idle))
	if got := log.list(); len(got) != 2 {
		t.Fatalf("MesosTask writes once the queue is empty = %v, want both", got)
	}
}

// A pod deleted at once (no grace period) while its MesosTask's create is deferred has
// its task killed then, not at the end of the burst: no MesosTask's finalizer has it
// killed. A pod whose MesosTask was written is left to that finalizer.
func TestAPodGoneWhileItsCreateIsDeferredHasItsTaskKilled(t *testing.T) {
	s, c, log, w, pods, ids := launchedTwo(t)
	ctx := context.Background()
	w.handle(ctx, acked(ids[0], mesos.TASK_RUNNING, "0123456789abcde1", new(bool)))
	handleBusy(ctx, w, acked(ids[1], mesos.TASK_RUNNING, "0123456789abcde2", new(bool)))
	if got := log.list(); len(got) != 1 || len(w.records) != 1 {
		t.Fatalf("MesosTask writes %v, records %d: want p1's written, p2's deferred", got, len(w.records))
	}
	for _, p := range pods {
		if err := c.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		s.PodGone(ctx, client.ObjectKeyFromObject(p))
	}
	d := s.currentDriver().(*fakeDriver)
	if got := d.killed(); len(got) != 1 || got[0] != ids[1] {
		t.Fatalf("kills %v, want p2's task only", got)
	}
	if !s.LaunchUnwritten(ids[1]) {
		t.Fatalf("p2's launch forgotten: its last update would not find its pod gone")
	}
	// The deferred create, written at last, finds no pod: no MesosTask, the launch forgotten.
	w.flush(ctx, time.Now().Add(w.idle), 0)
	if got := log.list(); len(got) != 1 {
		t.Errorf("MesosTask writes %v, want none for the pod gone", got)
	}
	if s.LaunchUnwritten(ids[1]) {
		t.Errorf("p2's launch still remembered")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.unstored) != 0 || len(s.unstoredOf) != 0 {
		t.Errorf("unstored %v, by pod %v: want both empty", s.unstored, s.unstoredOf)
	}
}

// A RUNNING that comes once this process has written its task's MesosTask (a STARTING
// held past its grace) is written onto it before it is acknowledged, though the cache
// does not show the MesosTask yet: its create is not deferred, which would leave the
// MesosTask saying Starting while RUNNING is acknowledged.
func TestARunningAfterItsMesosTaskWasWrittenIsNotDeferred(t *testing.T) {
	s, c, log, w, pods, ids := launchedTwo(t)
	ctx := context.Background()
	var ackStarting, ackRunning bool
	w.grace = time.Second
	w.handle(ctx, acked(ids[0], mesos.TASK_STARTING, "0123456789abcde1", &ackStarting))
	w.flush(ctx, time.Now().Add(2*time.Second), 0)
	if got := log.list(); !ackStarting || len(got) != 1 || got[0] != "create Starting" {
		t.Fatalf("acknowledged %v, MesosTask writes %v: want the STARTING acknowledged, then created", ackStarting, got)
	}
	s.APIReader = c
	s.Client = behindCache{Client: c, hidden: client.ObjectKeyFromObject(pods[0])}

	handleBusy(ctx, w, acked(ids[0], mesos.TASK_RUNNING, "0123456789abcde2", &ackRunning))
	mt := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pods[0]), mt); err != nil || !ackRunning || mt.Status.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Fatalf("acknowledged %v, MesosTask %s (%v): want it Running once RUNNING is acknowledged", ackRunning, mt.Status.Phase, err)
	}
}

// behindCache is a cache that has not seen the MesosTask of hidden yet.
type behindCache struct {
	client.Client
	hidden client.ObjectKey
}

func (b behindCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*mesosv1alpha1.MesosTask); ok && key == b.hidden {
		return apierrors.NewNotFound(mesosv1alpha1.GroupVersion.WithResource("mesostasks").GroupResource(), key.Name)
	}
	return b.Client.Get(ctx, key, obj, opts...)
}

func (b behindCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := b.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if l, ok := list.(*mesosv1alpha1.MesosTaskList); ok {
		l.Items = slices.DeleteFunc(l.Items, func(mt mesosv1alpha1.MesosTask) bool { return client.ObjectKeyFromObject(&mt) == b.hidden })
	}
	return nil
}
