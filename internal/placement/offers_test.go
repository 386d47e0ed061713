package placement

import (
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Mesos offers an agent again what a task there freed while an offer of it is
// outstanding, and takes an agent's offers of one allocation role in one ACCEPT: a round
// places on them as one, a task taking what it needs of both, in one resource per kind.
func TestAnAgentsOffersOfOneRoleAreOne(t *testing.T) {
	held := roleOffer("a", "*", 1, 512, portsOf("*", [2]uint64{31000, 31000}))
	freed := withID(roleOffer("a", "*", 1, 512, portsOf("*", [2]uint64{31001, 31001})), "o-a-freed")
	other := roleOffer("b", "*", 1, 512)
	in := Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.1, MemMB: 32},
		Requests: []Request{withPorts(req("big", 1.5, 768), 31000, 31001)}, Offers: []mesos.Offer{held, other, freed}}
	res := Place(in)
	checkResult(t, in, res)
	if len(res.Assignments) != 1 {
		t.Fatalf("a task that fits only both offers of agent a: unplaced %v", res.Unplaced)
	}
	a := res.Assignments[0]
	if a.OfferID != held.ID || !a.NeedsExecutor {
		t.Errorf("placed on %s (needs executor %v), want %s, the agent's first offer, starting the executor", a.OfferID.Value, a.NeedsExecutor, held.ID.Value)
	}
	var got []string
	for _, r := range a.Resources {
		got = append(got, fmt.Sprintf("%s:%v%v", r.Name, r.GetScalar().GetValue(), r.GetRanges().GetRange()))
	}
	if want := "[cpus:1.5[] mem:768[] ports:0[{31000 31001}]]"; fmt.Sprint(got) != want {
		t.Errorf("task resources %v, want %s: one per kind across the two offers", got, want)
	}
	if want := fmt.Sprint([]mesos.OfferID{held.ID, freed.ID}); fmt.Sprint(res.UsedOffers) != want {
		t.Errorf("used offers %v, want %v", res.UsedOffers, want)
	}

	// Offers of other roles of the agent stay apart: each is an ACCEPT of its own.
	in = Input{Requests: []Request{req("t", 1.5, 10)}, Offers: []mesos.Offer{roleOffer("a", "x", 1, 512), roleOffer("a", "y", 1, 512)}}
	if res := Place(in); len(res.Assignments) != 0 {
		t.Errorf("placed over two roles' offers: %+v", res.Assignments)
	}
}

// Taking an agent's offers as one leaves the Cache's reading of each as it was: the next
// round, with one of them, sees that one alone, and takes from each of its resources no
// more than it holds.
func TestMergedOffersLeaveTheCacheAlone(t *testing.T) {
	var c Cache
	agentOffer := func(id string, res ...mesos.Resource) mesos.Offer { // not MULTI_ROLE
		return mesos.Offer{ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: "a-a"}, Hostname: "a", Resources: res}
	}
	held := agentOffer("o1", scalar("cpus", 1, ""), reserved("cpus", 1, "k8s"), scalar("mem", 512, ""), portsOf("", [2]uint64{31000, 31000}))
	freed := agentOffer("o2", scalar("cpus", 1, ""), scalar("mem", 512, ""), portsOf("", [2]uint64{31001, 31001}))
	in := Input{Requests: []Request{req("t1", 2.5, 100)}, Offers: []mesos.Offer{held, freed}, Cache: &c}
	for round := range 2 {
		res := Place(in)
		checkResult(t, in, res)
		if len(res.Assignments) != 1 {
			t.Fatalf("round %d: unplaced %v", round, res.Unplaced)
		}
	}
	in.Offers = in.Offers[:1]
	in.Requests = []Request{withPorts(req("t2", 1.5, 512), 31000)}
	res := Place(in)
	checkResult(t, in, res)
	if len(res.Assignments) != 1 {
		t.Fatalf("the held offer alone: unplaced %v", res.Unplaced)
	}
	in.Requests = []Request{withPorts(req("t3", 1, 10), 31001)}
	if res := Place(in); len(res.Assignments) != 0 {
		t.Fatalf("a port of the other offer given: %+v", res.Assignments)
	}
}
