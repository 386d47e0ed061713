package scheduler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// One offer: the pod that fits is bound to the agent's Node and launched in one ACCEPT;
// the one too big waits, Unschedulable with placement's explanation on its MesosTask
// and its pod; nothing is declined, and offers are not suppressed while work waits.
func TestAnOfferLaunchesWhatFitsAndExplainsTheRest(t *testing.T) {
	q := queueTwo(t, "small", "500m", "big", "64")
	c, d, s, rec := q.c, q.d, q.s, q.rec
	small, smallTask, big, bigTask := q.pod1, q.task1, q.pod2, q.task2
	ctx := context.Background()

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if got := d.launches["o-agent-1"]; len(got) != 1 || got[0] != smallTask.Spec.TaskID {
		t.Fatalf("ACCEPT of o-agent-1 launched %v, want [%s]", got, smallTask.Spec.TaskID)
	}
	if len(d.declines) != 0 || d.suppress != 0 {
		t.Errorf("declined %v, suppressed %d times; want neither", d.declines, d.suppress)
	}
	pod := &corev1.Pod{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(small), pod)
	if pod.Spec.NodeName != "mesos-c-agent-1" {
		t.Errorf("the launched pod is bound to %q, want mesos-c-agent-1", pod.Spec.NodeName)
	}
	if s.Pending(smallTask.Spec.TaskID) || !s.Pending(bigTask.Spec.TaskID) || !s.LaunchUnwritten(smallTask.Spec.TaskID) {
		t.Errorf("queue after the launch: small pending %v, big pending %v, small's launch noted %v",
			s.Pending(smallTask.Spec.TaskID), s.Pending(bigTask.Spec.TaskID), s.LaunchUnwritten(smallTask.Spec.TaskID))
	}
	mt := &mesosv1alpha1.MesosTask{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(bigTask), mt)
	cond := meta.FindStatusCondition(mt.Status.Conditions, mesosv1alpha1.TaskConditionScheduled)
	if cond == nil || cond.Reason != mesosv1alpha1.ReasonUnschedulable || cond.Message == "" || mt.Status.Phase != mesosv1alpha1.TaskPhasePending {
		t.Errorf("the big task's status = %+v, want Pending and Scheduled=False/Unschedulable", mt.Status)
	}
	_ = c.Get(ctx, client.ObjectKeyFromObject(big), pod)
	if len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Reason != corev1.PodReasonUnschedulable {
		t.Errorf("the big pod's conditions = %+v, want PodScheduled=False/Unschedulable", pod.Status.Conditions)
	}
	// One event of the launch, where kube-scheduler and a kubelet write several.
	got := drain(rec)
	if !hasPrefixes(got, "Normal Scheduled Successfully assigned ns/small to mesos-c-agent-1; launched task "+smallTask.Spec.TaskID+" on agent agent-1", "Warning FailedScheduling") || len(got) != 2 {
		t.Errorf("events = %v, want Scheduled (with the task) and FailedScheduling", got)
	}
}

// A pod the round's offer had room for, until a pod placed before it in the round took
// it, is not unschedulable: it waits for the next offers (Mesos offers again what the
// ACCEPT leaves of the agent), and nothing is written to its pod or its MesosTask. In a
// burst over a few offers at once every such pod was marked Unschedulable, with an event
// each: at 1,000 × 10,000 thousands of writes, and the burst stalled.
func TestAPodWhoseRoomARoundTookWaitsWithoutBeingMarked(t *testing.T) {
	q := queueTwo(t, "first", "1", "second", "1")
	c, d, s, rec := q.c, q.d, q.s, q.rec
	firstTask, second, secondTask := q.task1, q.pod2, q.task2
	ctx := context.Background()

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 1.5)})

	if got := d.launches["o-agent-1"]; len(got) != 1 || got[0] != firstTask.Spec.TaskID {
		t.Fatalf("ACCEPT of o-agent-1 launched %v, want [%s]", got, firstTask.Spec.TaskID)
	}
	if !s.Pending(secondTask.Spec.TaskID) {
		t.Fatal("the second pod is not queued any more")
	}
	pod := &corev1.Pod{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(second), pod)
	mt := &mesosv1alpha1.MesosTask{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(secondTask), mt)
	if len(pod.Status.Conditions) != 0 || meta.FindStatusCondition(mt.Status.Conditions, mesosv1alpha1.TaskConditionScheduled) != nil {
		t.Errorf("the waiting pod's conditions = %+v, its task's %+v; want none written", pod.Status.Conditions, mt.Status.Conditions)
	}
	for _, ev := range drain(rec) {
		if strings.Contains(ev, "FailedScheduling") {
			t.Errorf("event %q for a pod that waits for the next offers", ev)
		}
	}
}

// A pod that has waited waitingMarked for offers, its room taken by the pods before it
// round after round (its agents full, say, their offers not coming again), is told why,
// as a pod that fits nowhere.
func TestAPodThatWaitedLongForRoomIsTold(t *testing.T) {
	q := queueTwo(t, "first", "1", "second", "1")
	c, s, rec := q.c, q.s, q.rec
	second, secondTask := q.pod2, q.task2
	ctx := context.Background()
	queuedEarlier(s, waitingMarked)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 1.5)})

	pod := &corev1.Pod{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(second), pod)
	if len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Reason != corev1.PodReasonUnschedulable {
		t.Errorf("the pod that waited %s: conditions %+v, want PodScheduled=False/Unschedulable", waitingMarked, pod.Status.Conditions)
	}
	if !s.Pending(secondTask.Spec.TaskID) {
		t.Error("the pod told why is not queued any more")
	}
	marked := false
	for _, ev := range drain(rec) {
		marked = marked || strings.HasPrefix(ev, "Warning FailedScheduling")
	}
	if !marked {
		t.Error("no FailedScheduling event")
	}
}

// An ACCEPT that fails is not sent again blindly: the master may have got it. Its offer
// is declined without a filter and Mesos is asked about its tasks.
func TestAFailedAcceptAsksMesosInsteadOfLaunchingAgain(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	d.launchErr = errBroken
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if refuse, ok := d.declines["o-agent-1"]; !ok || refuse != 0 {
		t.Errorf("the offer of the failed ACCEPT: declined %v with refuse %v, want declined with 0", ok, refuse)
	}
	if len(d.reconciles) != 1 || d.reconciles[0][mt.Spec.TaskID] != "a-agent-1" {
		t.Errorf("reconciliations = %v, want one asking about %s on a-agent-1", d.reconciles, mt.Spec.TaskID)
	}
	if s.Pending(mt.Spec.TaskID) || s.LaunchUnwritten(mt.Spec.TaskID) {
		t.Error("the task of a failed ACCEPT is queued or remembered as launched; Mesos's answer decides")
	}
}

// A cluster being deleted launches nothing: its driver stays subscribed until its
// framework is torn down or its tasks let go, and a pod launched meanwhile would run in
// Mesos with no cluster left. Its offers are declined.
func TestAClusterBeingDeletedLaunchesNothing(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	mc := s.currentCluster().DeepCopy()
	now := metav1.Now()
	mc.DeletionTimestamp = &now
	s.SetCluster(mc)
	s.Enqueue(ctx, mt, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if len(d.accepted) != 0 {
		t.Fatalf("launched %v for a cluster being deleted", d.accepted)
	}
	if _, ok := d.declines["o-agent-1"]; !ok {
		t.Errorf("the offer was not declined: declines %v", d.declines)
	}
}

// Where asking Mesos about the tasks of a failed ACCEPT fails too, it is asked again, and
// again while that fails, not left to the periodic reconciliation (15 minutes).
func TestAFailedAcceptsTasksAreAskedAboutUntilMesosIsAsked(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	d.launchErr = errBroken
	d.reconcileFails = 3 // the launch's own question, and two after it
	s, _ := newTestScheduler(c, d)
	s.askAfter = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Enqueue(ctx, mt, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	// The pod is bound: its task is asked about with its Node's agent.
	bound := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), bound); err != nil || bound.Spec.NodeName == "" {
		t.Fatalf("the pod was not bound: %v", err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: bound.Spec.NodeName, Annotations: map[string]string{agentnode.AnnotationAgentID: "a-agent-1"}}}
	if err := c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := d.reconcileCalls()
		if len(calls) >= 4 {
			for i, call := range calls {
				if call[mt.Spec.TaskID] != "a-agent-1" {
					t.Fatalf("reconciliation %d asked %v, want %s on a-agent-1", i, call, mt.Spec.TaskID)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reconciliations %v: asking was not tried again until it went through", calls)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Mesos's answer about the task of a failed ACCEPT that the master did get finds the
// pod this process bound, though the cache does not show the binding yet: the task is
// recorded, not killed as one no pod owns.
func TestTheTaskOfAFailedAcceptThatRunsIsKeptWhileTheCacheLags(t *testing.T) {
	pod, mt := queuedPod(t, "p") // its MesosTask not written yet
	// The binding succeeds, but the cache does not see it yet.
	c := fakeAPIWith(t, interceptor.Funcs{SubResourceCreate: func(context.Context, client.Client, string, client.Object, client.Object, ...client.SubResourceCreateOption) error {
		return nil
	}}, pod)
	d := newFakeDriver()
	d.launchErr = errBroken
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	answer(s, mt.Spec.TaskID, "a-agent-1", mesos.TASK_STAGING)

	if len(d.kills) != 0 {
		t.Fatalf("killed %v, want the task kept", d.kills)
	}
	got := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mt), got); err != nil || got.Status.MesosState != mesos.TASK_STAGING.String() {
		t.Fatalf("the MesosTask after Mesos's answer: %+v, %v; want TASK_STAGING recorded", got.Status, err)
	}
}

// An empty queue suppresses offers; new work revives them. (offerHoldSeconds 0: unused
// offers are declined at once.)
func TestAnEmptyQueueSuppressesOffersAndWorkRevivesThem(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.SetCluster(holdingCluster(0))

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if d.suppress != 1 || d.declines["o-agent-1"] != 5*time.Second {
		t.Fatalf("suppressed %d times, declines %v; want one SUPPRESS and the offer declined for refuseSeconds", d.suppress, d.declines)
	}
	s.Enqueue(ctx, mt, pod)
	s.Enqueue(ctx, mt, pod) // queued already: no second REVIVE
	if d.revive != 1 {
		t.Fatalf("revived %d times, want 1", d.revive)
	}
}

// Offers declined with a refuse filter while a pod waits are not suppressed; a new pod
// REVIVEs them, not to wait out the filter (up to refuseSeconds) though the declined
// resources may fit it, and a burst of new pods REVIVEs once.
func TestNewWorkRevivesDeclinedOffers(t *testing.T) {
	big, bigTask := podWithTask("big", "64")
	p1, t1 := podWithTask("p1", "500m")
	p2, t2 := podWithTask("p2", "500m")
	c := fakeAPI(t, big, bigTask, p1, t1, p2, t2)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.SetCluster(holdingCluster(0))
	s.Enqueue(ctx, bigTask, big)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if d.suppress != 0 || d.declines["o-agent-1"] != 5*time.Second {
		t.Fatalf("suppressed %d times, declines %v; want no SUPPRESS (a pod waits) and the offer declined for refuseSeconds", d.suppress, d.declines)
	}
	s.Enqueue(ctx, t1, p1)
	s.Enqueue(ctx, t2, p2)
	if d.revive != 1 {
		t.Errorf("revived %d times for two new pods, want 1", d.revive)
	}
}

// An ACCEPT filters what its tasks leave of its offers for refuseSeconds, as a DECLINE
// does: a new pod REVIVEs offers rather than wait that out while a pod waits (offers are
// not suppressed).
func TestNewWorkRevivesWhatAnAcceptLeftFiltered(t *testing.T) {
	big, bigTask := podWithTask("big", "64")
	p1, t1 := podWithTask("p1", "500m")
	p2, t2 := podWithTask("p2", "500m")
	c := fakeAPI(t, big, bigTask, p1, t1, p2, t2)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.SetCluster(holdingCluster(0))
	s.Enqueue(ctx, bigTask, big)
	s.Enqueue(ctx, t1, p1)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if len(d.launches["o-agent-1"]) != 1 || len(d.declines) != 0 || d.suppress != 0 {
		t.Fatalf("launches %v, declines %v, suppressed %d times; want p1 launched, nothing declined or suppressed", d.launches, d.declines, d.suppress)
	}
	s.Enqueue(ctx, t2, p2)
	if d.revive != 1 {
		t.Errorf("revived %d times for a new pod, want 1", d.revive)
	}
}

// A pod that someone else bound to another agent's Node since it was queued waits for
// an offer from its own agent.
func TestAPodBoundElsewhereWaitsForItsAgent(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)
	pod.Spec.NodeName = "mesos-c-agent-2"
	if err := c.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if len(d.launches) != 0 || !s.Pending(mt.Spec.TaskID) {
		t.Fatalf("launched %v, pending %v; want nothing launched and the task still queued", d.launches, s.Pending(mt.Spec.TaskID))
	}
}

// drain takes the events recorded so far.
func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// hasPrefixes says whether every prefix begins one of the events.
func hasPrefixes(events []string, prefixes ...string) bool {
	for _, p := range prefixes {
		found := false
		for _, e := range events {
			if strings.HasPrefix(e, p) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Nothing is launched before the framework id is written to the cluster's status: a
// manager killed in between would subscribe again as a new framework and launch the
// same pods again under it. The offers go back to Mesos for a moment instead.
func TestNothingIsLaunchedBeforeTheFrameworkIDIsWritten(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.SetCluster(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}}) // subscribed, not yet written
	s.Enqueue(ctx, mt, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if len(d.launches) != 0 || d.declines["o-agent-1"] != frameworkIDWait || !s.Pending(mt.Spec.TaskID) {
		t.Fatalf("launched %v, declines %v, pending %v; want nothing launched, the offer declined for %v, the task still queued",
			d.launches, d.declines, s.Pending(mt.Spec.TaskID), frameworkIDWait)
	}
	s.SetCluster(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}})
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-2", 2)})
	if len(d.launches["o-agent-2"]) != 1 {
		t.Fatalf("once the id is written the task is not launched: %v", d.launches)
	}
}

// A pod whose MesosTask was made before the cluster refused what it asks for (root, by
// default) is never launched nor bound: building its TaskInfo refuses it, and the pod
// fails InvalidPod with the field named, while the pod beside it launches.
func TestAPodAskingForRootIsFailedNotLaunched(t *testing.T) {
	ok, okTask := podWithTask("ok", "500m")
	root, rootTask := podWithTask("root", "500m")
	uid := int64(0)
	root.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid}
	c := fakeAPI(t, ok, okTask, root, rootTask)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, okTask, ok)
	s.Enqueue(ctx, rootTask, root)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if got := d.launches["o-agent-1"]; len(got) != 1 || got[0] != okTask.Spec.TaskID {
		t.Fatalf("ACCEPT of o-agent-1 launched %v, want only [%s]", got, okTask.Spec.TaskID)
	}
	pod := &corev1.Pod{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(root), pod)
	if pod.Status.Phase != corev1.PodFailed || !strings.Contains(pod.Status.Message, "spec.securityContext.runAsUser: Forbidden") {
		t.Errorf("the root pod's status = %s %q, want Failed naming spec.securityContext.runAsUser", pod.Status.Phase, pod.Status.Message)
	}
	if pod.Spec.NodeName != "" {
		t.Errorf("the refused pod was bound to %s, want it failed before binding", pod.Spec.NodeName)
	}
	if s.Pending(rootTask.Spec.TaskID) {
		t.Error("the refused pod is still queued")
	}
}

// A pod with scheduling gates is not queued, whoever queues it: older than the pod that
// may run, it would take the offer first and then fail to bind (the API server refuses
// a gated pod's binding), while the other waited as Unschedulable for as long as the
// gate stayed, on an idle agent.
func TestAGatedPodTakesNoOffer(t *testing.T) {
	gated, gatedTask := podWithTask("gated", "1500m")
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
	gated.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	plain, plainTask := podWithTask("plain", "500m")
	plain.CreationTimestamp = metav1.Now()
	bindings := 0
	c := fakeAPIWith(t, interceptor.Funcs{SubResourceCreate: func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
		bindings++
		if o.GetName() == gated.Name {
			return errors.New("pod ns/gated has non-empty .spec.schedulingGates")
		}
		return bindPod(ctx, c, sub, o, req, opts...)
	}}, gated, gatedTask, plain, plainTask)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, gatedTask, gated)
	s.Enqueue(ctx, plainTask, plain)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if got := d.launches["o-agent-1"]; len(got) != 1 || got[0] != plainTask.Spec.TaskID {
		t.Fatalf("ACCEPT of o-agent-1 launched %v, want [%s]", got, plainTask.Spec.TaskID)
	}
	if s.Pending(gatedTask.Spec.TaskID) || bindings != 1 {
		t.Errorf("the gated pod is queued %v, %d bindings asked; want not queued and the plain pod's binding only",
			s.Pending(gatedTask.Spec.TaskID), bindings)
	}
}
