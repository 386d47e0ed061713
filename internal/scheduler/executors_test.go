package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"

	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

// roleOfferOf is an offer of agent host allocated to role, as Mesos makes them for a
// MULTI_ROLE framework.
func roleOfferOf(id, host, role string, cpus float64) mesos.Offer {
	o := agentOffer(host, cpus)
	o.ID.Value = id
	o.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &role}
	for i := range o.Resources {
		o.Resources[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: &role}
	}
	return o
}

// The offers of one agent and one role go into one ACCEPT when tasks were placed on
// them, all of them (placement takes them as one, and names the first); those of
// another agent, or another role of the agent (Mesos refuses offers of two roles
// accepted together), into others; the offers of an agent and role without a task into
// none.
func TestAcceptGroups(t *testing.T) {
	offers := []mesos.Offer{
		roleOfferOf("o1", "h1", "a", 1), roleOfferOf("o2", "h1", "a", 1), roleOfferOf("o3", "h1", "b", 1),
		roleOfferOf("o4", "h2", "a", 1), roleOfferOf("o5", "h2", "a", 1), roleOfferOf("o6", "h2", "b", 1),
	}
	asg := func(task, offer string) placement.Assignment {
		return placement.Assignment{Request: placement.Request{ID: task}, OfferID: mesos.OfferID{Value: offer}}
	}
	groups, unused := acceptGroups(offers, []placement.Assignment{asg("t1", "o1"), asg("t2", "o3"), asg("t3", "o2"), asg("t4", "o4")})
	var got [][]string
	for _, g := range groups {
		var ids []string
		for _, id := range g.offerIDs(offers) {
			ids = append(ids, id.Value)
		}
		for _, a := range g.asgs {
			ids = append(ids, a.Request.ID)
		}
		got = append(got, ids)
	}
	want := [][]string{{"o1", "o2", "t1", "t3"}, {"o3", "t2"}, {"o4", "o5", "t4"}}
	if len(got) != len(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("groups %v, want %v", got, want)
		}
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("groups %v, want %v", got, want)
			}
		}
	}
	if len(unused) != 1 || offers[unused[0]].ID.Value != "o6" {
		t.Errorf("unused %v, want o6", unused)
	}
}

// Two offers of one agent in a round, each taking a pod: one ACCEPT of both, whose
// first task starts the executor for both; and the executor as launched is what the
// next round's tasks on the agent name.
func TestOneAgentsOffersGoInOneAccept(t *testing.T) {
	q := queueTwo(t, "p1", "1500m", "p2", "1500m")
	d, s := q.d, q.s
	ctx := context.Background()

	s.handleNew(ctx, []mesos.Offer{roleOfferOf("o1", "agent-1", "*", 2), roleOfferOf("o2", "agent-1", "*", 2)})

	if got := d.launches["o1+o2"]; len(got) != 2 || len(d.accepted) != 1 {
		t.Fatalf("ACCEPTs %v, want one of o1 and o2 with both tasks", d.launches)
	}
	launched := d.accepted[0][0].Executor.Resources
	known := s.runningExecutor(podtask.ExecutorID(s.currentCluster()))("a-agent-1")
	if known == nil || !resources.Equivalent(known, launched) {
		t.Errorf("the executor remembered on agent-1: %v, want as launched: %v", known, launched)
	}
	if other := s.runningExecutor("another-executor")("a-agent-1"); other != nil {
		t.Errorf("another executor id is taken for the one launched: %v", other)
	}
}

// The executor remembered on an agent is the one last started there: a launch into the
// running executor changes nothing, and one that starts it again (it ended, the agent
// restarted) replaces what was known.
func TestTheExecutorLastStartedOnAnAgentIsRemembered(t *testing.T) {
	s, _ := newTestScheduler(fakeAPI(t), newFakeDriver())
	launchOf := func(role string) []mesos.TaskInfo {
		return []mesos.TaskInfo{{AgentID: mesos.AgentID{Value: "a1"}, Executor: &mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"},
			Resources: roleOfferOf("o", "h", role, 0.1).Resources[:1]}}}
	}
	starts := []placement.Assignment{{AgentID: mesos.AgentID{Value: "a1"}, NeedsExecutor: true}}
	joins := []placement.Assignment{{AgentID: mesos.AgentID{Value: "a1"}}}
	roleOf := func() string {
		res := s.runningExecutor("e")("a1")
		if len(res) == 0 {
			return ""
		}
		return res[0].GetAllocationInfo().GetRole()
	}
	for _, step := range []struct {
		asgs []placement.Assignment
		role string
		want string
	}{
		{joins, "a", ""},   // not started by this process: not known
		{starts, "a", "a"}, // started from role a's offer
		{joins, "b", "a"},  // a task that names other resources does not change it
		{starts, "b", "b"}, // started again from role b's offer
	} {
		s.executorLaunched(step.asgs, launchOf(step.role))
		if got := roleOf(); got != step.want {
			t.Fatalf("after a launch of role %s (starts %v): remembered role %q, want %q", step.role, step.asgs[0].NeedsExecutor, got, step.want)
		}
	}
}

// listingDriver is a fake driver whose master lists running executors (GET_EXECUTORS).
type listingDriver struct {
	*fakeDriver
	executors []framework.MasterExecutor
	err       error
}

func (l *listingDriver) GetExecutors(context.Context) ([]framework.MasterExecutor, error) {
	return l.executors, l.err
}

// A process that did not launch the executor running on an agent (a restarted manager)
// learns what it was launched with from the master after subscribing, before any
// round places a task there: an offer of another role would otherwise have the task
// name other executor resources, and Mesos would refuse it ("not compatible"). When the
// master cannot tell, the offer's are used.
func TestTheRunningExecutorsAreLearnedFromTheMasterAfterSubscribing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		listErr  error
		wantRole string
	}{
		{"listed by the master", nil, "a"},
		{"the master cannot tell", errBroken, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("p", "500m")
			c := fakeAPI(t, pod, mt)
			s, _ := newTestScheduler(c, newFakeDriver())
			execID := podtask.ExecutorID(s.currentCluster())
			running := roleOfferOf("old", "agent-1", "a", 0.1).Resources[:1] // launched from role a's offer
			d := &listingDriver{fakeDriver: newFakeDriver(), err: tc.listErr, executors: []framework.MasterExecutor{
				{FrameworkID: "fw-1", AgentID: "a-agent-1", ExecutorID: execID, Resources: running},
				{FrameworkID: "another-framework", AgentID: "a-agent-1", ExecutorID: execID},
				{FrameworkID: "fw-1", AgentID: "a-agent-1", ExecutorID: "an-older-executor"},
			}}
			ctx := context.Background()
			s.subscribed(ctx, d)
			s.Enqueue(ctx, mt, pod)

			o := roleOfferOf("o1", "agent-1", "b", 2) // the executor runs there
			o.ExecutorIDs = []mesos.ExecutorID{{Value: execID}}
			s.handleNew(ctx, []mesos.Offer{o})

			if len(d.accepted) != 1 || d.accepted[0][0].Executor == nil {
				t.Fatalf("ACCEPTs %v, want the task's", d.accepted)
			}
			got := d.accepted[0][0].Executor.Resources
			if len(got) == 0 || got[0].GetAllocationInfo().GetRole() != tc.wantRole {
				t.Errorf("the task names executor resources %v, want role %s's", got, tc.wantRole)
			}
		})
	}
}
