package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// holdingCluster is cluster "c", its framework id written, holding unused offers for
// seconds.
func holdingCluster(seconds int32) *mesosv1alpha1.MesosCluster {
	return &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Spec:   mesosv1alpha1.MesosClusterSpec{Placement: mesosv1alpha1.PlacementSpec{OfferHoldSeconds: ptr.To(seconds)}},
		Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}}
}

// holding says whether offers are held.
func (s *Scheduler) holding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held) > 0
}

// woken says whether the offer loop was told that work came for held offers.
func woken(s *Scheduler) bool {
	select {
	case <-s.wake:
		return true
	default:
		return false
	}
}

// Offers a round leaves unused while nothing waits are held, not declined; a pod that
// comes next takes one at once, without a REVIVE, and the rest stay held.
func TestAHeldOfferTakesTheNextPodWithoutARevive(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2), agentOffer("agent-2", 2)}) // by default held 1 s
	if len(d.declines) != 0 || d.suppress != 1 || !s.holding() {
		t.Fatalf("declines %v, suppressed %d times, holding %v; want both offers held and offers suppressed", d.declines, d.suppress, s.holding())
	}
	s.Enqueue(ctx, mt, pod)
	if d.revive != 0 || !woken(s) {
		t.Fatalf("revived %d times, offer loop woken %v; want no REVIVE, the loop woken", d.revive, woken(s))
	}
	s.handleOffers(ctx, offerBatch{}) // what the woken loop does

	if n := len(d.launches["o-agent-1"]) + len(d.launches["o-agent-2"]); n != 1 {
		t.Fatalf("launches %v, want the pod launched on a held offer", d.launches)
	}
	if len(d.declines) != 0 || !s.holding() || d.revive != 0 {
		t.Errorf("declines %v, holding %v, revived %d times; want the other offer still held and no REVIVE", d.declines, s.holding(), d.revive)
	}
}

// A held offer is declined for refuseSeconds once its hold is over, and not before.
func TestAHeldOfferIsDeclinedWhenItsHoldEnds(t *testing.T) {
	c := fakeAPI(t)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.SetCluster(holdingCluster(3))
	start := time.Now()
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	next, ok := s.nextExpiry()
	if !ok || next.Sub(start) < 3*time.Second || next.Sub(start) > 4*time.Second {
		t.Fatalf("next expiry %v after the round (held %v), want 3 s", next.Sub(start), ok)
	}

	s.declineExpired(ctx, start.Add(time.Second))
	if len(d.declines) != 0 || !s.holding() {
		t.Fatalf("declined %v before its hold ended", d.declines)
	}
	s.declineExpired(ctx, next)
	if refuse, declined := d.declines["o-agent-1"]; !declined || refuse != 5*time.Second || s.holding() {
		t.Fatalf("declines %v, holding %v; want the offer declined for 5 s and nothing held", d.declines, s.holding())
	}
}

// A held offer that a later round leaves unused again keeps its first deadline: holding
// does not go on for as long as pods keep coming.
func TestAHeldOfferKeepsItsDeadlineAcrossRounds(t *testing.T) {
	d := newFakeDriver()
	s, _ := newTestScheduler(fakeAPI(t), d)
	ctx := context.Background()
	start := time.Now()
	s.settleUnused(ctx, sourceOf(d), []mesos.Offer{agentOffer("agent-1", 2)}, []int{0}, nil, nil, 0, time.Second, start)

	later := start.Add(500 * time.Millisecond) // a later round takes it and leaves it unused
	held := s.takeHeld(sourceOf(d), later)
	offers := s.offersOfRound(held, []mesos.Offer{agentOffer("agent-2", 2)})
	s.settleUnused(ctx, sourceOf(d), offers, []int{0, 1}, held, nil, 0, time.Second, later)
	s.recycleHeld(held)

	due := map[string]time.Time{}
	for _, h := range s.held {
		due[h.offer.ID.Value] = h.until
	}
	if !due["o-agent-1"].Equal(start.Add(time.Second)) || !due["o-agent-2"].Equal(later.Add(time.Second)) {
		t.Fatalf("deadlines %v; want o-agent-1's kept at %v and o-agent-2's at %v", due, start.Add(time.Second), later.Add(time.Second))
	}
}

// Held offers go when Mesos rescinds them or their subscription ends (the framework
// subscribed again, lost its stream, or its driver was replaced): a pod never launches
// on them, and offers are revived for it.
func TestRescindedAndStaleHeldOffersAreNotUsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		// voids voids the held offer and returns the driver of the next round.
		voids func(*Scheduler, *fakeDriver) *fakeDriver
	}{
		{"rescinded", func(s *Scheduler, d *fakeDriver) *fakeDriver {
			s.Rescind(context.Background(), mesos.OfferID{Value: "o-agent-1"})
			return d
		}},
		{"made to an earlier subscription", func(_ *Scheduler, d *fakeDriver) *fakeDriver {
			d.endSubscription(true)
			return d
		}},
		{"made to a subscription that ended", func(_ *Scheduler, d *fakeDriver) *fakeDriver {
			d.endSubscription(false)
			return d
		}},
		{"made to another driver's subscription of the same number", func(s *Scheduler, _ *fakeDriver) *fakeDriver {
			next := newFakeDriver()
			s.setDriver(next)
			return next
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("p", "500m")
			c := fakeAPI(t, pod, mt)
			first := newFakeDriver()
			s, _ := newTestScheduler(c, first)
			ctx := context.Background()
			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
			d := tc.voids(s, first)
			s.Enqueue(ctx, mt, pod)
			s.handleOffers(ctx, offerBatch{})
			if s.stuck() {
				s.setSuppressed(ctx, false) // as the woken loop does
			}

			if len(first.launches)+len(d.launches) != 0 || !s.Pending(mt.Spec.TaskID) || d.revive != 1 || boundTo(t, c, pod) != "" {
				t.Fatalf("launches %v %v, pending %v, revived %d times, bound to %q; want nothing launched or bound, the pod waiting, one REVIVE",
					first.launches, d.launches, s.Pending(mt.Spec.TaskID), d.revive, boundTo(t, c, pod))
			}
			if s.holding() || len(first.declines)+len(d.declines) != 0 || first.refused+d.refused != 0 {
				t.Errorf("holding %v, declines %v %v, %d calls refused; want the void offer dropped, not declined", s.holding(), first.declines, d.declines, first.refused+d.refused)
			}
		})
	}
}

// boundTo is the Node the API server has the pod bound to.
func boundTo(t *testing.T, c client.Client, pod *corev1.Pod) string {
	t.Helper()
	got := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	return got.Spec.NodeName
}

// Offers that wait for the offer loop while their subscription ends are not used, nor
// held as if they came on the next one: Mesos rescinded them, and a framework that lost
// its stream hears no RESCIND. An ACCEPT of them would fail (TASK_DROPPED), its pod
// bound to the agent by then.
func TestQueuedOffersOfAnEndedSubscriptionAreNotUsed(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.offered(ctx, d, []mesos.Offer{agentOffer("agent-1", 4)})
	d.endSubscription(true)
	s.handleOffers(ctx, <-s.offers) // nothing waits: a live offer would be held
	s.Enqueue(ctx, mt, pod)
	s.handleOffers(ctx, offerBatch{})

	if len(d.launches) != 0 || !s.Pending(mt.Spec.TaskID) || boundTo(t, c, pod) != "" {
		t.Fatalf("launches %v, pending %v, bound to %q; want nothing launched or bound, the pod waiting",
			d.launches, s.Pending(mt.Spec.TaskID), boundTo(t, c, pod))
	}
	if s.holding() || len(d.declines) != 0 || d.refused != 0 {
		t.Errorf("holding %v, declines %v, %d calls refused; want the offer dropped", s.holding(), d.declines, d.refused)
	}
}

// A round whose subscription ends while it prepares a launch binds no pod after that and
// sends no ACCEPT: the pod waits unbound for offers of the next subscription, from any
// agent, and a launch written to its MesosTask is taken back.
func TestARoundWhoseSubscriptionEndsBindsNothingMore(t *testing.T) {
	for _, tc := range []struct {
		name string
		next bool // subscribed again, else not subscribed
		// phase is the MesosTask's: with one, the launch is written before the binding.
		phase mesosv1alpha1.TaskPhase
	}{
		{"not subscribed", false, ""},
		{"subscribed again", true, ""},
		{"subscribed again, the launch written", true, mesosv1alpha1.TaskPhasePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("p", "500m")
			mt.Status.Phase = tc.phase
			d := newFakeDriver()
			c := fakeAPIWith(t, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
				if _, ok := o.(*corev1.Pod); ok {
					d.endSubscription(tc.next) // as the round reads the pod to launch
				}
				return c.Get(ctx, key, o, opts...)
			}}, pod, mt)
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()
			s.Enqueue(ctx, mt, pod)

			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

			if len(d.launches) != 0 || d.refused != 0 || !s.Pending(mt.Spec.TaskID) || s.LaunchUnwritten(mt.Spec.TaskID) {
				t.Fatalf("launches %v, %d calls refused, pending %v, launch remembered %v; want no ACCEPT tried, the pod waiting, no launch remembered",
					d.launches, d.refused, s.Pending(mt.Spec.TaskID), s.LaunchUnwritten(mt.Spec.TaskID))
			}
			if node := boundTo(t, c, pod); node != "" {
				t.Fatalf("pod bound to %s, want it unbound", node)
			}
			got := &mesosv1alpha1.MesosTask{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(mt), got); err != nil || podtask.Launched(got.Status.Phase) {
				t.Fatalf("MesosTask phase %q (%v), want it not launched", got.Status.Phase, err)
			}
			if s.holding() {
				t.Error("the offers of the ended subscription are held")
			}
		})
	}
}

// A subscription that ends while the round binds its pods: the ACCEPT is not sent
// (framework.ErrSubscriptionEnded), and since Mesos got nothing, nothing is asked of it.
// The launch is forgotten, a written launch undone, and the pod, bound by then, waits in
// the queue for its agent's next offer.
func TestAnAcceptNotSentForAnEndedSubscriptionAsksMesosNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phase mesosv1alpha1.TaskPhase // the MesosTask's: with one, the launch is written
	}{
		{"the launch not written", ""},
		{"the launch written", mesosv1alpha1.TaskPhasePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("p", "500m")
			mt.Status.Phase = tc.phase
			d := newFakeDriver()
			c := fakeAPIWith(t, interceptor.Funcs{SubResourceCreate: func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
				d.endSubscription(true) // as the pod is bound
				return bindPod(ctx, c, sub, o, req, opts...)
			}}, pod, mt)
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()
			s.Enqueue(ctx, mt, pod)

			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

			if d.refused != 1 || len(d.reconciles) != 0 || !s.Pending(mt.Spec.TaskID) || s.LaunchUnwritten(mt.Spec.TaskID) {
				t.Fatalf("%d ACCEPTs refused, reconciliations %v, pending %v, launch remembered %v; want the ACCEPT refused, nothing asked, the pod waiting, no launch remembered",
					d.refused, d.reconciles, s.Pending(mt.Spec.TaskID), s.LaunchUnwritten(mt.Spec.TaskID))
			}
			got := &mesosv1alpha1.MesosTask{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(mt), got); err != nil || podtask.Launched(got.Status.Phase) {
				t.Fatalf("MesosTask phase %q (%v), want it not launched", got.Status.Phase, err)
			}
		})
	}
}

// Offers are held only while nothing waits: those a round leaves unused while a pod that
// fits nowhere waits are declined, as other frameworks may use them.
func TestOffersAreNotHeldWhileAPodWaits(t *testing.T) {
	big, bigTask := podWithTask("big", "64")
	c := fakeAPI(t, big, bigTask)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, bigTask, big)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if _, declined := d.declines["o-agent-1"]; !declined || s.holding() {
		t.Fatalf("declines %v, holding %v; want the offer declined", d.declines, s.holding())
	}
}

// Offers a round leaves unused are held for work that came during the round, which the
// round did not try on them, and the offer loop is told to try it at once; they are
// declined when a task the round tried waits still (it fits none, or its launch failed).
func TestOffersAreHeldForWorkThatCameDuringTheRound(t *testing.T) {
	early, earlyTask := podWithTask("early", "500m")
	late, lateTask := podWithTask("late", "500m")
	for _, tc := range []struct {
		name    string
		pending []*mesosv1alpha1.MesosTask
		held    bool
	}{
		{"only work the round did not try", []*mesosv1alpha1.MesosTask{lateTask}, true},
		{"a task the round tried", []*mesosv1alpha1.MesosTask{earlyTask, lateTask}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDriver()
			s, _ := newTestScheduler(fakeAPI(t), d)
			ctx := context.Background()
			for _, mt := range tc.pending {
				s.Enqueue(ctx, mt, map[string]*corev1.Pod{"early": early, "late": late}[mt.Name])
			}
			tried := map[string]types.NamespacedName{earlyTask.Spec.TaskID: client.ObjectKeyFromObject(earlyTask)}

			s.settleUnused(ctx, sourceOf(d), []mesos.Offer{agentOffer("agent-1", 2)}, []int{0}, nil, tried, 0, time.Second, time.Now())

			if _, declined := d.declines["o-agent-1"]; s.holding() != tc.held || declined == tc.held {
				t.Fatalf("holding %v, declines %v; want held %v", s.holding(), d.declines, tc.held)
			}
			if s.heldForWork() != tc.held {
				t.Errorf("the offer loop is told to try the held offers: %v, want %v", s.heldForWork(), tc.held)
			}
		})
	}
}

// BenchmarkHeldOffersRound takes 1,000 held offers for a round that uses none of them
// and holds them again: the scheduler's own work, around placement
// (placement.BenchmarkPlaceOneOnHeldOffers), in each round of a cluster that holds offers.
func BenchmarkHeldOffersRound(b *testing.B) {
	d := newFakeDriver()
	s, _ := newTestScheduler(nil, d)
	ctx := context.Background()
	offers := make([]mesos.Offer, 1000)
	unused := make([]int, len(offers))
	for i := range offers {
		offers[i], unused[i] = agentOffer(fmt.Sprintf("agent-%d", i), 16), i
	}
	now := time.Now()
	s.settleUnused(ctx, sourceOf(d), offers, unused, nil, nil, 0, time.Hour, now)
	b.ReportAllocs()
	for b.Loop() {
		held := s.takeHeld(sourceOf(d), now)
		round := s.offersOfRound(held, nil)
		s.settleUnused(ctx, sourceOf(d), round, unused, held, nil, 0, time.Hour, now)
		s.recycleHeld(held)
	}
	if len(s.held) != len(offers) {
		b.Fatalf("%d offers held, want %d", len(s.held), len(offers))
	}
}

// A cluster whose deletion begins while it holds offers declines them at its next round,
// one that work brought (a batch of no offers) included: they go back to the other
// frameworks at once, not when Mesos takes them back.
func TestHeldOffersAreDeclinedOnceTheClusterIsBeingDeleted(t *testing.T) {
	c := fakeAPI(t)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if !s.holding() {
		t.Fatal("the offer is not held")
	}
	mc := s.currentCluster().DeepCopy()
	now := metav1.Now()
	mc.DeletionTimestamp = &now
	s.SetCluster(mc)

	s.handleOffers(ctx, offerBatch{}) // what the woken loop does

	if _, declined := d.declines["o-agent-1"]; !declined || s.holding() {
		t.Errorf("declines %v, holding %v; want the held offer declined", d.declines, s.holding())
	}
}
