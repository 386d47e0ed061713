package placement

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// The room of a pod nominated to an agent's Node is kept for it from requests of no
// higher priority, not from itself, from those of higher priority, or once it is placed
// in the round; other agents are not concerned.
func TestRoomIsKeptForNominatedPods(t *testing.T) {
	prio := func(r Request, p int32) Request { r.Priority = p; return r }
	nominee := func(cpus float64) []Nominated {
		return []Nominated{{Node: agentnode.NodeName("c", "a", 0), ID: "n", Priority: 100, CPUs: cpus, MemMB: 64}}
	}
	in := func(nominated []Nominated, offers []mesos.Offer, reqs ...Request) Input {
		return Input{Cluster: "c", Offers: offers, Requests: reqs, Nominated: nominated}
	}
	runPlaceCases(t, []placeCase{
		{name: "a pod of lower priority does not take the room", in: in(nominee(2), []mesos.Offer{offer("a", 2, 1024)}, prio(req("low", 1, 64), 10)),
			unplaced: map[string]string{"low": "0/1 agents available: 1 insufficient cpus."}},
		{name: "nor does one of equal priority", in: in(nominee(2), []mesos.Offer{offer("a", 2, 1024)}, prio(req("eq", 1, 64), 100)),
			unplaced: map[string]string{"eq": "0/1 agents available: 1 insufficient cpus."}},
		{name: "but takes what is left beside it", in: in(nominee(2), []mesos.Offer{offer("a", 3, 1024)}, prio(req("low", 1, 64), 10)),
			want: map[string]string{"low": "a"}},
		{name: "one of higher priority takes it", in: in(nominee(2), []mesos.Offer{offer("a", 2, 1024)}, prio(req("high", 1, 64), 200)),
			want: map[string]string{"high": "a"}},
		{name: "the nominated pod takes its own room", in: in(nominee(2), []mesos.Offer{offer("a", 2, 1024)}, prio(req("n", 2, 64), 100)),
			want: map[string]string{"n": "a"}},
		{name: "placed, it keeps no more room", in: in(nominee(2), []mesos.Offer{offer("a", 3, 1024)}, prio(req("n", 2, 64), 100), prio(req("low", 1, 64), 10)),
			want: map[string]string{"n": "a", "low": "a"}},
		{name: "two nominated pods of one shape: the first, whose room is not there yet, does not answer for the second, whose room is",
			in: Input{Cluster: "c", Offers: []mesos.Offer{offer("b", 2, 1024)}, Requests: []Request{prio(req("p1", 2, 64), 100), prio(req("p2", 2, 64), 100)},
				Nominated: []Nominated{{Node: agentnode.NodeName("c", "a", 0), ID: "p1", Priority: 100, CPUs: 2, MemMB: 64},
					{Node: agentnode.NodeName("c", "b", 0), ID: "p2", Priority: 100, CPUs: 2, MemMB: 64}}},
			want: map[string]string{"p2": "b"}, unplaced: map[string]string{"p1": "0/1 agents available: 1 insufficient cpus."}},
		{name: "not placed (its victims' room is not all there yet), it keeps it", in: in(nominee(3),
			[]mesos.Offer{offer("a", 2, 1024), offer("b", 1, 1024)}, prio(req("n", 3, 64), 100), prio(req("low", 1, 64), 10), prio(req("low2", 1, 64), 10)),
			want: map[string]string{"low": "b"}, unplaced: map[string]string{"n": "0/2 agents available: 2 insufficient cpus."},
			waiting: []string{"low2"}},
	})
}

// An assignment names the agent's Node, which the launch gives the executor as the pod's
// spec.nodeName (it comes before the binding).
func TestAnAssignmentNamesItsNode(t *testing.T) {
	res := Place(Input{Cluster: "c", Offers: []mesos.Offer{offer("a", 2, 1024)}, Requests: []Request{req("p", 1, 64)}})
	if len(res.Assignments) != 1 || res.Assignments[0].Node != agentnode.NodeName("c", "a", 0) {
		t.Fatalf("assignments %+v, want one to %s", res.Assignments, agentnode.NodeName("c", "a", 0))
	}
}
