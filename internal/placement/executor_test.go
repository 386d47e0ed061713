package placement

import (
	"math"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"

	"github.com/k8sm/k8sm/internal/agentnode"
)

func TestExecutorResourcesAreTheSameOnAnAgent(t *testing.T) {
	exec := Request{CPUs: 0.1, MemMB: 64}
	for _, tc := range []struct {
		name      string
		offers    []mesos.Offer
		wantNeeds []bool
	}{
		{"started by the first task", []mesos.Offer{offer("a", 4, 4096)}, []bool{true, false, false}},
		{"already running", []mesos.Offer{withExecutor(offer("a", 4, 4096), "exec")}, []bool{false, false, false}},
		{"started once across two offers of the agent", []mesos.Offer{roleOffer("a", "*", 1.2, 4096), withID(withExecutor(roleOffer("a", "*", 1.2, 4096), "other"), "o2")}, []bool{true, false, false}},
		{"running as one offer of the agent says", []mesos.Offer{roleOffer("a", "*", 1.1, 4096), withID(withExecutor(roleOffer("a", "*", 1, 4096), "exec"), "o2")}, []bool{false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Strategy: Binpack, ExecutorID: "exec", ExecutorResources: exec, Requests: []Request{req("t1", 1, 10), req("t2", 0.5, 10), req("t3", 0.5, 10)}, Offers: tc.offers}
			res := Place(in)
			checkResult(t, in, res)
			if len(res.Assignments) != 3 {
				t.Fatalf("placed %d, unplaced %v", len(res.Assignments), res.Unplaced)
			}
			for i, a := range res.Assignments {
				if a.NeedsExecutor != tc.wantNeeds[i] {
					t.Errorf("%s: NeedsExecutor = %v, want %v", a.Request.ID, a.NeedsExecutor, tc.wantNeeds[i])
				}
				if !resources.Equivalent(a.ExecutorResources, res.Assignments[0].ExecutorResources) || sumOf(a.ExecutorResources, "cpus") != 0.1 || sumOf(a.ExecutorResources, "mem") != 64 {
					t.Errorf("%s: executor resources %v, first task's %v", a.Request.ID, a.ExecutorResources, res.Assignments[0].ExecutorResources)
				}
			}
		})
	}
	res := Place(Input{Requests: []Request{req("t", 1, 1)}, Offers: []mesos.Offer{offer("a", 2, 100)}})
	if a := res.Assignments[0]; a.NeedsExecutor || a.ExecutorResources != nil {
		t.Errorf("without an executor id: needs %v, resources %v", a.NeedsExecutor, a.ExecutorResources)
	}
}

// On an agent where the executor runs, tasks name it with the resources it was launched
// with, as Mesos requires, whatever role the agent's offer of the day is for; unknown
// (launched by an earlier process), they are read off the offer.
func TestTheExecutorAsLaunchedOnAnAgent(t *testing.T) {
	exec := Request{CPUs: 0.1, MemMB: 64}
	launched := []mesos.Resource{scalar("cpus", 0.1, "a"), scalar("mem", 64, "a")}
	for _, tc := range []struct {
		name     string
		running  func(string) []mesos.Resource
		wantRole string
	}{
		{"launched by this process from role a's offer", func(agent string) []mesos.Resource {
			if agent == "a-h" {
				return launched
			}
			return nil
		}, "a"},
		{"not known", func(string) []mesos.Resource { return nil }, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{ExecutorID: "exec", ExecutorResources: exec, RunningExecutor: tc.running,
				Requests: []Request{req("t", 1, 10)}, Offers: []mesos.Offer{withExecutor(roleOffer("h", "b", 2, 1024), "exec")}}
			res := Place(in)
			checkResult(t, in, res)
			if len(res.Assignments) != 1 {
				t.Fatalf("unplaced: %v", res.Unplaced)
			}
			a := res.Assignments[0]
			if a.NeedsExecutor {
				t.Errorf("the running executor is started again")
			}
			for _, r := range a.ExecutorResources {
				if got := r.GetAllocationInfo().GetRole(); got != tc.wantRole {
					t.Errorf("executor resource %s of role %s, want %s", r.Name, got, tc.wantRole)
				}
			}
			if sumOf(a.ExecutorResources, "cpus") != 0.1 || sumOf(a.ExecutorResources, "mem") != 64 {
				t.Errorf("executor resources %v", a.ExecutorResources)
			}
		})
	}
}

// In a round that starts the executor on an agent from one role's offer, the agent's
// offers of other roles take no task: theirs would be another ACCEPT, which could reach
// Mesos first and be charged for the executor. They do in the next round.
func TestTheExecutorStartsFromOneRoleInARound(t *testing.T) {
	in := Input{Strategy: Binpack, ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.1, MemMB: 64},
		Requests: []Request{req("t1", 1, 10), req("t2", 1, 10)},
		Offers:   []mesos.Offer{roleOffer("h", "a", 1.2, 1024), roleOffer("h", "b", 1.2, 1024)}}
	res := Place(in)
	checkResult(t, in, res)
	if len(res.Assignments) != 1 || !res.Assignments[0].NeedsExecutor {
		t.Fatalf("assignments %+v, want the first task alone, starting the executor", res.Assignments)
	}
	if _, ok := res.Waiting["t2"]; !ok {
		t.Errorf("t2 not left for the next round (waiting %v, unplaced %v)", res.Waiting, res.Unplaced)
	}
	// The next round, the executor runs: the other role's offer takes the task.
	in.Requests = in.Requests[1:]
	in.Offers = []mesos.Offer{withExecutor(roleOffer("h", "b", 1.2, 1024), "exec")}
	if res := Place(in); len(res.Assignments) != 1 {
		t.Errorf("the next round: unplaced %v", res.Unplaced)
	}
}

// Result.Left is what each agent's offers leave per allocation role once the round's
// tasks are placed, less the executor's resources where it does not run yet.
func TestPlaceSaysWhatOffersLeave(t *testing.T) {
	exec := Request{CPUs: 0.1, MemMB: 64}
	in := Input{Strategy: Binpack, ExecutorID: "exec", ExecutorResources: exec, Cluster: "c",
		Requests: []Request{{ID: "t1", CPUs: 1, MemMB: 100, Role: "web"}},
		Offers: []mesos.Offer{
			roleOffer("a", "web", 2, 1000), withID(roleOffer("a", "db", 0.5, 500), "o-a2"),
			withExecutor(offer("b", 1, 200), "exec"), offer("c", 1, 200),
		}}
	res := Place(in)
	checkResult(t, in, res)
	got := map[string][]Room{}
	for _, a := range res.Left {
		got[a.Node] = a.Rooms
	}
	// t1 goes to a, of its role, and starts the executor there.
	want := map[string][]Room{
		agentnode.NodeName("c", "a", 0): {{Role: "web", CPUs: 0.9, MemMB: 836}, {Role: "db", CPUs: 0.5, MemMB: 500}},
		agentnode.NodeName("c", "b", 0): {{Role: "*", CPUs: 1, MemMB: 200, DiskMB: 1000}},
		// No executor runs on c: a task there would start one.
		agentnode.NodeName("c", "c", 0): {{Role: "*", CPUs: 0.9, MemMB: 136, DiskMB: 1000}},
	}
	if len(res.Assignments) != 1 || res.Assignments[0].OfferID.Value != "o-a-web" {
		t.Fatalf("assignments %+v, unplaced %v", res.Assignments, res.Unplaced)
	}
	for node, rooms := range want {
		if len(got[node]) != len(rooms) {
			t.Fatalf("%s: Left %+v, want %+v", node, got[node], rooms)
		}
		for i, m := range rooms {
			g := got[node][i]
			if g.Role != m.Role || math.Abs(g.CPUs-m.CPUs) > 1e-9 || g.MemMB != m.MemMB || g.DiskMB != m.DiskMB || g.GPUs != m.GPUs {
				t.Errorf("%s: Left %+v, want %+v", node, got[node], rooms)
			}
		}
	}
}
