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

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
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

	s.handleOffers(ctx, []mesos.Offer{agentOffer("agent-1", 2), agentOffer("agent-2", 2)}) // by default held 1 s
	if len(d.declines) != 0 || d.suppress != 1 || !s.holding() {
		t.Fatalf("declines %v, suppressed %d times, holding %v; want both offers held and offers suppressed", d.declines, d.suppress, s.holding())
	}
	s.Enqueue(ctx, mt, pod)
	if d.revive != 0 || !woken(s) {
		t.Fatalf("revived %d times, offer loop woken %v; want no REVIVE, the loop woken", d.revive, woken(s))
	}
	s.handleOffers(ctx, nil) // what the woken loop does

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
	s.handleOffers(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
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
	s.settleUnused(ctx, d, []mesos.Offer{agentOffer("agent-1", 2)}, []int{0}, nil, nil, 0, time.Second, start)

	later := start.Add(500 * time.Millisecond) // a later round takes it and leaves it unused
	held := s.takeHeld(d.Subscription(), later)
	offers := s.offersOfRound(held, []mesos.Offer{agentOffer("agent-2", 2)})
	s.settleUnused(ctx, d, offers, []int{0, 1}, held, nil, 0, time.Second, later)
	s.recycleHeld(held)

	due := map[string]time.Time{}
	for _, h := range s.held {
		due[h.offer.ID.Value] = h.until
	}
	if !due["o-agent-1"].Equal(start.Add(time.Second)) || !due["o-agent-2"].Equal(later.Add(time.Second)) {
		t.Fatalf("deadlines %v; want o-agent-1's kept at %v and o-agent-2's at %v", due, start.Add(time.Second), later.Add(time.Second))
	}
}

// Held offers go when Mesos rescinds them or their subscription ends: a pod never
// launches on them, and offers are revived for it.
func TestRescindedAndStaleHeldOffersAreNotUsed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		voids func(*Scheduler, *fakeDriver)
	}{
		{"rescinded", func(s *Scheduler, _ *fakeDriver) {
			s.Rescind(context.Background(), mesos.OfferID{Value: "o-agent-1"})
		}},
		{"made to an earlier subscription", func(_ *Scheduler, d *fakeDriver) {
			d.mu.Lock()
			d.subscription++
			d.mu.Unlock()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("p", "500m")
			c := fakeAPI(t, pod, mt)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()
			s.handleOffers(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
			tc.voids(s, d)
			s.Enqueue(ctx, mt, pod)
			s.handleOffers(ctx, nil)
			if s.stuck() {
				s.setSuppressed(ctx, false) // as the woken loop does
			}

			if len(d.launches) != 0 || !s.Pending(mt.Spec.TaskID) || d.revive != 1 {
				t.Fatalf("launches %v, pending %v, revived %d times; want nothing launched, the pod waiting, one REVIVE",
					d.launches, s.Pending(mt.Spec.TaskID), d.revive)
			}
			if s.holding() || len(d.declines) != 0 {
				t.Errorf("holding %v, declines %v; want the void offer dropped, not declined", s.holding(), d.declines)
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

	s.handleOffers(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

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

			s.settleUnused(ctx, d, []mesos.Offer{agentOffer("agent-1", 2)}, []int{0}, nil, tried, 0, time.Second, time.Now())

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
	s.settleUnused(ctx, d, offers, unused, nil, nil, 0, time.Hour, now)
	b.ReportAllocs()
	for b.Loop() {
		held := s.takeHeld(d.Subscription(), now)
		round := s.offersOfRound(held, nil)
		s.settleUnused(ctx, d, round, unused, held, nil, 0, time.Hour, now)
		s.recycleHeld(held)
	}
	if len(s.held) != len(offers) {
		b.Fatalf("%d offers held, want %d", len(s.held), len(offers))
	}
}
