package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// freedOffer is a second offer of agent host: what a task there freed, which Mesos
// offers while the agent's first offer is held.
func freedOffer(host string, cpus float64) mesos.Offer {
	o := agentOffer(host, cpus)
	o.ID.Value += "-freed"
	return o
}

// While an offer of an agent is held, Mesos offers what a task there frees in an offer
// of its own. A pod that fits only both is launched on both, in one ACCEPT, and neither
// is declined or held.
func TestAPodThatNeedsAnAgentsTwoOffersGetsThemInOneAccept(t *testing.T) {
	pod, mt := podWithTask("p", "1500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 1)}) // nothing waits: held
	if !s.holding() {
		t.Fatal("the first offer is not held")
	}
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{freedOffer("agent-1", 1)})

	if got := d.launches["o-agent-1+o-agent-1-freed"]; len(got) != 1 || got[0] != mt.Spec.TaskID || len(d.accepted) != 1 {
		t.Fatalf("ACCEPTs %v, want one of both offers launching the pod", d.launches)
	}
	var cpus float64
	for _, r := range d.accepted[0][0].Resources {
		if r.Name == "cpus" {
			cpus += r.GetScalar().GetValue()
		}
	}
	if cpus != 1.5 {
		t.Errorf("the task takes %v cpus, want 1.5", cpus)
	}
	if len(d.declines) != 0 || s.holding() || s.Pending(mt.Spec.TaskID) {
		t.Errorf("declines %v, holding %v, pending %v; want both offers in the ACCEPT alone", d.declines, s.holding(), s.Pending(mt.Spec.TaskID))
	}
}

// Of an agent's two held offers Mesos rescinds one: the pod goes on the other alone, and
// a new offer whose RESCIND came before its round is not used either.
func TestARescindedOfferOfAnAgentIsLeftOutOfItsAccept(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	c := fakeAPI(t, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 1), freedOffer("agent-1", 1)})
	s.Rescind(ctx, mesos.OfferID{Value: "o-agent-1"})
	s.Rescind(ctx, mesos.OfferID{Value: "o-agent-2"})
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-2", 4)})

	if got := d.launches["o-agent-1-freed"]; len(got) != 1 || len(d.accepted) != 1 {
		t.Fatalf("ACCEPTs %v, want the pod launched on the offer not rescinded alone", d.launches)
	}
	if len(d.declines) != 0 || s.holding() {
		t.Errorf("declines %v, holding %v; want the rescinded offers dropped", d.declines, s.holding())
	}
}
