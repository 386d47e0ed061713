package scheduler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// revives is how many REVIVEs the driver was sent.
func (f *fakeDriver) revives() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revive
}

// launchedTasks is how many tasks the driver launched.
func (f *fakeDriver) launchedTasks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, tasks := range f.launches {
		n += len(tasks)
	}
	return n
}

// holdsWithin polls cond until it holds, or within passes.
func holdsWithin(within time.Duration, cond func() bool) bool {
	for end := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// A pod that comes less than minRevive after a REVIVE, while the offers that REVIVE
// brought are declined with a refuse filter (a pod that fits nowhere waits), gets a
// REVIVE once minRevive has passed: it does not wait out the filter (up to
// spec.placement.refuseSeconds, a day at most) though the declined resources fit it.
func TestNewWorkRevivedTooSoonAfterAReviveIsRevivedLater(t *testing.T) {
	big, bigTask := podWithTask("big", "64")
	p1, t1 := podWithTask("p1", "500m")
	p2, t2 := podWithTask("p2", "500m")
	c := fakeAPI(t, big, bigTask, p1, t1, p2, t2)
	d := newFakeDriver()
	s := filteringScheduler(c, d, 0)
	ctx := t.Context()
	s.Enqueue(ctx, bigTask, big)
	s.Start(ctx)

	offerAgent1(ctx, s, d, "o-1")
	waitFor(t, "the offer the big pod does not fit declined", func() bool { return declined(d, "o-1") })
	s.Enqueue(ctx, t1, p1)
	if d.revives() != 1 {
		t.Fatalf("revived %d times for a new pod, want 1", d.revives())
	}
	offerAgent1(ctx, s, d, "o-2") // Mesos's answer to the REVIVE: p1 takes it
	waitFor(t, "p1 launched", func() bool { return d.launchedTasks() == 1 })
	s.Enqueue(ctx, t2, p2) // within minRevive of the REVIVE
	if !holdsWithin(minRevive+2*time.Second, func() bool { return d.revives() == 2 }) {
		t.Fatalf("revived %d times; want a second REVIVE for the pod that came too soon after the first", d.revives())
	}
}

// filteringScheduler is a scheduler over c and d for cluster "c", which holds unused
// offers for hold seconds and declines them for an hour (refuseSeconds 3600): a pod that
// waits out a filter fails its test.
func filteringScheduler(c client.Client, d Driver, hold int32) *Scheduler {
	s, _ := newTestScheduler(c, d)
	mc := holdingCluster(hold)
	mc.Spec.Placement.RefuseSeconds = new(int32(3600))
	s.SetCluster(mc)
	return s
}

// offerAgent1 hands the scheduler an offer of agent-1 (2 cpus) named id.
func offerAgent1(ctx context.Context, s *Scheduler, d *fakeDriver, id string) {
	o := agentOffer("agent-1", 2)
	o.ID.Value = id
	s.offered(ctx, d, []mesos.Offer{o})
}

// declined says whether the driver declined an offer.
func declined(d *fakeDriver, id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.declines[id]
	return ok
}

// suppressingDriver is a fakeDriver that runs during while a SUPPRESS is under way.
type suppressingDriver struct {
	*fakeDriver
	during func()
}

func (d *suppressingDriver) Suppress(ctx context.Context) error {
	err := d.fakeDriver.Suppress(ctx)
	if d.during != nil {
		d.during()
	}
	return err
}

// A pod queued while the SUPPRESS of an empty queue is under way (it found offers not
// suppressed yet, and asked for no REVIVE) has offers revived once the SUPPRESS is done:
// it does not wait for the safety net of the offer loop.
func TestWorkQueuedDuringASuppressRevivesOffers(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := &suppressingDriver{fakeDriver: newFakeDriver()}
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	d.during = func() { s.Enqueue(ctx, mt, pod) }

	s.setSuppressed(ctx, true)
	if s.stuck() || d.revives() != 1 {
		t.Fatalf("stuck %v, revived %d times; want offers revived once for the pod queued during the SUPPRESS", s.stuck(), d.revives())
	}
}

// A pod that fits no agent because its Node is cordoned has the agent's offers revived
// when the Node is uncordoned (NodeOpened): the round declined them with a refuse filter,
// and it does not wait that out (up to spec.placement.refuseSeconds). Nothing is revived
// for a Node that opens while no pod waits.
func TestANodeThatOpensRevivesTheOffersItsPodsWait(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-1", Labels: map[string]string{agentnode.LabelCluster: "c"}},
		Spec: corev1.NodeSpec{Unschedulable: true}}
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, node, pod, mt)
	d := newFakeDriver()
	s := filteringScheduler(c, d, 0)
	ctx := t.Context()
	s.NodeOpened(ctx)
	if d.revives() != 0 {
		t.Fatalf("revived %d times with no pod waiting, want 0", d.revives())
	}
	s.Enqueue(ctx, mt, pod)
	s.Start(ctx)

	offerAgent1(ctx, s, d, "o-1")
	waitFor(t, "the offer of the cordoned Node's agent declined", func() bool { return declined(d, "o-1") })
	revived := d.revives()
	uncordoned := node.DeepCopy()
	uncordoned.Spec.Unschedulable = false
	if err := c.Update(ctx, uncordoned); err != nil {
		t.Fatal(err)
	}
	s.NodeOpened(ctx)
	if !holdsWithin(minRevive+2*time.Second, func() bool { return d.revives() == revived+1 }) {
		t.Fatalf("revived %d times after the Node was uncordoned, want %d", d.revives(), revived+1)
	}
	offerAgent1(ctx, s, d, "o-2") // Mesos's answer to the REVIVE
	waitFor(t, "the pod launched on the uncordoned Node's agent", func() bool { return d.launchedTasks() == 1 })
}

// unsuppressingDriver is a fakeDriver whose SUPPRESS fails, as when a pod is queued
// while a round that held offers is under way: offers are held and not suppressed.
type unsuppressingDriver struct{ *fakeDriver }

func (d unsuppressingDriver) Suppress(context.Context) error { return errors.New("not now") }

// A pod queued while offers are held (and not suppressed) takes them, and if they do not
// fit it while what an ACCEPT left unused may be filtered (refuseSeconds), offers are
// revived for it, as for a pod queued while none are held: the held offers were not all
// there is.
func TestNewWorkTheHeldOffersDoNotFitIsRevived(t *testing.T) {
	p0, t0 := podWithTask("p0", "500m")
	p1, t1 := podWithTask("p1", "500m")
	c := fakeAPI(t, p0, t0, p1, t1)
	d := unsuppressingDriver{newFakeDriver()}
	s := filteringScheduler(c, d, 60)
	ctx := t.Context()
	s.Enqueue(ctx, t0, p0)
	s.Start(ctx)

	small := agentOffer("agent-1", 0.2)
	small.ID.Value = "small"
	s.offered(ctx, d, []mesos.Offer{small, agentOffer("agent-2", 2)})
	waitFor(t, "p0 launched on agent-2, the small offer held", func() bool { return d.launchedTasks() == 1 && s.holding() })
	if d.revives() != 0 {
		t.Fatalf("revived %d times before p1 came, want 0", d.revives())
	}
	s.Enqueue(ctx, t1, p1)
	if !holdsWithin(minRevive+2*time.Second, func() bool { return d.revives() == 1 }) {
		t.Fatalf("revived %d times for p1, which the held offer does not fit, want 1", d.revives())
	}
}

// A pod queued while a round launches (before its ACCEPT set the refuse filter on what
// it left unused) asked for no REVIVE then; the round, which did not try it, asks for
// one when it is done, so the pod does not wait the filter out (refuseSeconds).
func TestWorkQueuedDuringARoundIsRevivedFor(t *testing.T) {
	p0, t0 := podWithTask("p0", "500m")
	p1, t1 := podWithTask("p1", "500m")
	c := fakeAPI(t, p0, t0, p1, t1)
	d := newFakeDriver()
	s := filteringScheduler(c, d, 0)
	ctx := t.Context()
	s.Enqueue(ctx, t0, p0)
	s.Start(ctx)
	var once sync.Once
	d.mu.Lock()
	d.duringLaunch = func() { once.Do(func() { s.Enqueue(ctx, t1, p1) }) }
	d.mu.Unlock()

	s.offered(ctx, d, []mesos.Offer{agentOffer("agent-1", 0.6)})
	waitFor(t, "p0 launched", func() bool { return d.launchedTasks() == 1 })
	if !holdsWithin(minRevive+2*time.Second, func() bool { return d.revives() == 1 }) {
		t.Fatalf("revived %d times for the pod queued during the round, want 1", d.revives())
	}
}
