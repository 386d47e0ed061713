package scheduler

import (
	"context"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
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
	s, _ := newTestScheduler(c, d)
	mc := holdingCluster(0)
	mc.Spec.Placement.RefuseSeconds = new(int32(3600))
	s.SetCluster(mc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Enqueue(ctx, bigTask, big)
	s.Start(ctx)

	offer := func(id string) {
		o := agentOffer("agent-1", 2)
		o.ID.Value = id
		s.offered(ctx, d, []mesos.Offer{o})
	}
	offer("o-1")
	waitFor(t, "the offer the big pod does not fit declined", func() bool { return declined(d, "o-1") })
	s.Enqueue(ctx, t1, p1)
	if d.revives() != 1 {
		t.Fatalf("revived %d times for a new pod, want 1", d.revives())
	}
	offer("o-2") // Mesos's answer to the REVIVE: p1 takes it
	waitFor(t, "p1 launched", func() bool { return d.launchedTasks() == 1 })
	s.Enqueue(ctx, t2, p2) // within minRevive of the REVIVE
	if !holdsWithin(minRevive+2*time.Second, func() bool { return d.revives() == 2 }) {
		t.Fatalf("revived %d times; want a second REVIVE for the pod that came too soon after the first", d.revives())
	}
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
