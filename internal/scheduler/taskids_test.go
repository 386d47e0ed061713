package scheduler

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// relaunchScene is a pod bound to agent-1 whose task was launched there and has had no
// update yet, with an offer of agent-1 held for the next pod (as offers are held while
// nothing waits).
func relaunchScene(t *testing.T) (client.Client, *fakeDriver, *Scheduler, *corev1.Pod, *mesosv1alpha1.MesosTask) {
	t.Helper()
	pod, mt := podWithTask("p", "500m")
	pod.Spec.NodeName = "mesos-c-agent-1"
	now := metav1.Now()
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, AgentID: "a-agent-1", Hostname: "agent-1", LaunchedAt: &now}
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.handleNew(context.Background(), []mesos.Offer{agentOffer("agent-1", 2)})
	if !s.holding() || len(d.accepted) != 0 {
		t.Fatalf("holding %v, ACCEPTs %v: want the offer held", s.holding(), d.accepted)
	}
	return c, d, s, pod, mt
}

// acceptsOf counts the ACCEPTs that launched a task.
func (f *fakeDriver) acceptsOf(taskID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, tasks := range f.accepted {
		for _, ti := range tasks {
			if ti.TaskID.Value == taskID {
				n++
			}
		}
	}
	return n
}

// racingAck is the acknowledgement of an update, which answers err, and, before it
// reaches Mesos, does what may happen meanwhile: the MesosTask reconciler queues the
// pod whose MesosTask it sees back to Pending, and the offer loop runs its round on the
// held offer. It records how many times the task was launched by then.
func racingAck(t *testing.T, c client.Client, s *Scheduler, pod *corev1.Pod, taskID string, err error, launched *int, d *fakeDriver) func(context.Context) error {
	return func(ctx context.Context) error {
		mt := &mesosv1alpha1.MesosTask{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), mt); err != nil {
			t.Fatal(err)
		}
		if mt.Status.Phase == mesosv1alpha1.TaskPhasePending {
			s.Enqueue(ctx, mt, pod)
		}
		s.handleOffers(ctx, offerBatch{})
		*launched = d.acceptsOf(taskID)
		return err
	}
}

// Mesos holds a task until its terminal update is acknowledged, and refuses a launch of
// its id meanwhile ("Task has duplicate ID"). A pod whose task Mesos never ran
// (TASK_DROPPED, from the agent) goes back to the queue, but its task is launched again
// only once that update's acknowledgement went through, however soon the pod is queued
// and an offer is there for it; and exactly once. When the acknowledgement fails, Mesos
// sends the update again and its acknowledgement lets the pod go; if Mesos does not (the
// acknowledgement got there, its answer alone was lost), the pod goes after a while.
func TestATaskMesosNeverRanIsLaunchedAgainOnceItsEndIsAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name string
		acks []error // the answer to each acknowledgement of the update, sent again after each failure
		wait time.Duration
	}{
		{name: "acknowledged", acks: []error{nil}, wait: time.Hour},
		{name: "acknowledged when sent again", acks: []error{errBroken, nil}, wait: time.Hour},
		{name: "acknowledged, the answer lost", acks: []error{errBroken}, wait: 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, d, s, pod, mt := relaunchScene(t)
			s.heldIDWait = tc.wait
			ctx := context.Background()
			w := newWorker(s, -1)
			for i, ackErr := range tc.acks {
				u := agentUpdate(mt.Spec.TaskID, mesos.TASK_DROPPED, "dropped-uuid-001")
				var beforeAck int
				u.ack = racingAck(t, c, s, pod, mt.Spec.TaskID, ackErr, &beforeAck, d)
				w.handle(ctx, u)
				if beforeAck != 0 {
					t.Fatalf("delivery %d: the task was launched again before its TASK_DROPPED was acknowledged", i+1)
				}
				if ackErr != nil {
					s.handleOffers(ctx, offerBatch{})
					if n := d.acceptsOf(mt.Spec.TaskID); n != 0 || !s.Pending(mt.Spec.TaskID) {
						t.Fatalf("after a failed acknowledgement: launched %d times, waiting %v; want it waiting, not launched", n, s.Pending(mt.Spec.TaskID))
					}
				}
			}
			if tc.wait < time.Minute {
				time.Sleep(2 * tc.wait)
			}
			s.handleOffers(ctx, offerBatch{})
			if n := d.acceptsOf(mt.Spec.TaskID); n != 1 {
				t.Fatalf("launched %d times, want once", n)
			}
			s.handleOffers(ctx, offerBatch{})
			if n := d.acceptsOf(mt.Spec.TaskID); n != 1 || s.Pending(mt.Spec.TaskID) {
				t.Fatalf("launched %d times, still waiting %v; want once, and no more", n, s.Pending(mt.Spec.TaskID))
			}
		})
	}
}

// A launch Mesos refuses because it still holds the id (TASK_ERROR, REASON_TASK_INVALID,
// "Task has duplicate ID": the acknowledgement of the earlier launch's end was dropped
// for an agent that was away, or its update came again after a failover) does not fail
// the pod: the MesosTask goes back to Pending, and the task is launched again once
// Mesos lets go of the id, when the earlier end comes again and is acknowledged, or
// after a while.
func TestALaunchRefusedForAnIDMesosHoldsIsLaunchedAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		endsAgain bool // the earlier end comes again
		wait      time.Duration
	}{
		{name: "the earlier end sent again", endsAgain: true, wait: time.Hour},
		{name: "after a while", wait: 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, d, s, pod, mt := relaunchScene(t)
			s.heldIDWait = tc.wait
			ctx := context.Background()
			w := newWorker(s, -1)
			refused := masterUpdate(mt.Spec.TaskID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID)
			refused.status.Message = ptrTo("Task has duplicate ID: " + mt.Spec.TaskID)
			var beforeAck int
			refused.ack = racingAck(t, c, s, pod, mt.Spec.TaskID, nil, &beforeAck, d)
			w.handle(ctx, refused)

			got, gotPod := &mesosv1alpha1.MesosTask{}, &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(mt), got); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), gotPod); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != mesosv1alpha1.TaskPhasePending || gotPod.Status.Phase == corev1.PodFailed {
				t.Fatalf("MesosTask %s (%s), pod %s; want Pending, and the pod not failed", got.Status.Phase, got.Status.Message, gotPod.Status.Phase)
			}
			s.handleOffers(ctx, offerBatch{})
			if n := d.acceptsOf(mt.Spec.TaskID); n != 0 || beforeAck != 0 || !s.Pending(mt.Spec.TaskID) {
				t.Fatalf("launched %d times, waiting %v; want it waiting, not launched while Mesos holds the id", n, s.Pending(mt.Spec.TaskID))
			}
			if tc.endsAgain {
				w.handle(ctx, agentUpdate(mt.Spec.TaskID, mesos.TASK_DROPPED, "dropped-uuid-001"))
			} else {
				time.Sleep(2 * tc.wait)
			}
			s.handleOffers(ctx, offerBatch{})
			s.handleOffers(ctx, offerBatch{})
			if n := d.acceptsOf(mt.Spec.TaskID); n != 1 {
				t.Fatalf("launched %d times, want once", n)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// The master answers a launch on the event stream, and its refusal for an id Mesos holds
// may come before the ACCEPT's own answer: the pod is queued again, aside until Mesos
// lets go of the id, before the launch is done with. The launch then takes out of the
// queue the entry it launched, not that one: the pod is launched again once the hold ends.
func TestALaunchRefusedBeforeItsAcceptReturnsIsLaunchedAgain(t *testing.T) {
	s, d, mt := refusedDuringAccept(t, nil)
	ctx := context.Background()

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if n := d.acceptsOf(mt.Spec.TaskID); n != 1 || !s.Pending(mt.Spec.TaskID) {
		t.Fatalf("launched %d times, waiting %v; want once, and waiting to be launched again", n, s.Pending(mt.Spec.TaskID))
	}
	time.Sleep(2 * s.heldIDWait)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if n := d.acceptsOf(mt.Spec.TaskID); n != 2 || s.Pending(mt.Spec.TaskID) {
		t.Fatalf("launched %d times, waiting %v; want twice, and no more waiting", n, s.Pending(mt.Spec.TaskID))
	}
}

// A task whose id Mesos keeps refusing (the task holding it is on a disconnected agent)
// is launched again after a wait that doubles at each refusal in a row, up to a bound,
// and starts from the first wait once Mesos says anything else of the task; of its
// launches after a refusal only the first is told.
func TestRepeatedRefusalsOfATasksIDBackOff(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod)
	d := newFakeDriver()
	s, rec := newTestScheduler(c, d)
	const base = time.Hour // the holds are ended by hand
	s.heldIDWait = base
	ctx := context.Background()
	w := newWorker(s, -1)
	id := mt.Spec.TaskID
	refuse := func() time.Duration {
		t.Helper()
		refused := masterUpdate(id, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID)
		refused.status.Message = ptrTo("Task has duplicate ID: " + id)
		w.handle(ctx, refused)
		s.mu.Lock()
		h := s.holds[id]
		s.mu.Unlock()
		if h == nil || !s.Pending(id) {
			t.Fatalf("hold %v, waiting %v: want the pod waiting for the id", h, s.Pending(id))
		}
		wait := time.Until(h.until)
		s.releaseID(ctx, id, 0) // as the hold's timer would
		s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
		return wait
	}
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	var waits []int // hours
	for range 7 {
		waits = append(waits, int(refuse().Round(time.Hour)/time.Hour))
	}
	if want := []int{1, 2, 4, 8, 16, 20, 20}; !slices.Equal(waits, want) {
		t.Errorf("waits %v hours, want %v", waits, want)
	}
	if n := d.acceptsOf(id); n != 8 {
		t.Errorf("launched %d times, want 8", n)
	}
	var told []string
	for len(rec.Events) > 0 {
		told = append(told, strings.Fields(<-rec.Events)[1])
	}
	if want := []string{"Scheduled", "Launched"}; !slices.Equal(told, want) {
		t.Errorf("events %v, want %v", told, want)
	}

	// Mesos says something else of the task: the next refusal waits the first wait again.
	w.handle(ctx, agentUpdate(id, mesos.TASK_DROPPED, "dropped-uuid-001"))
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if wait := refuse().Round(time.Hour); wait != base {
		t.Errorf("wait after another update %v, want %v", wait, base)
	}
}

// The same answer, to an ACCEPT that then fails (its connection broke after the master
// got it): the failed launch takes out of the queue only the entry it launched, and the
// pod queued again by the refusal is launched once the hold ends.
func TestALaunchRefusedBeforeItsAcceptFailsIsLaunchedAgain(t *testing.T) {
	s, d, mt := refusedDuringAccept(t, errBroken)
	ctx := context.Background()

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if !s.Pending(mt.Spec.TaskID) {
		t.Fatal("the pod refused during its failed ACCEPT is not waiting to be launched again")
	}
	d.mu.Lock()
	d.launchErr = nil
	d.mu.Unlock()
	time.Sleep(2 * s.heldIDWait)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if n := d.acceptsOf(mt.Spec.TaskID); n != 1 || s.Pending(mt.Spec.TaskID) {
		t.Fatalf("launched %d times, waiting %v; want once, and no more waiting", n, s.Pending(mt.Spec.TaskID))
	}
}

// refusedDuringAccept queues a pod whose launch the master refuses, on the event stream,
// for an id Mesos still holds, while the ACCEPT is under way; the ACCEPT then returns
// acceptErr. Mesos's hold of the id ends 50 ms after the refusal.
func refusedDuringAccept(t *testing.T, acceptErr error) (*Scheduler, *fakeDriver, *mesosv1alpha1.MesosTask) {
	t.Helper()
	pod, mt := podWithTask("p", "500m")
	d := newFakeDriver()
	d.launchErr = acceptErr
	s, _ := newTestScheduler(fakeAPI(t, pod), d)
	s.heldIDWait = 50 * time.Millisecond
	ctx := context.Background()
	w := newWorker(s, -1)
	refused := masterUpdate(mt.Spec.TaskID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID)
	refused.status.Message = ptrTo("Task has duplicate ID: " + mt.Spec.TaskID)
	var once sync.Once
	d.duringLaunch = func() { once.Do(func() { w.handle(ctx, refused) }) }
	s.Enqueue(ctx, mt, pod)
	return s, d, mt
}
