package mesossim

// The allocator's rules, as Mesos 1.12's hierarchical allocator applies them
// (src/master/allocator/mesos/hierarchical.cpp): what an agent is offered while an offer
// of it is outstanding, the least it offers, and how refuse filters hold resources back.

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// commandTaskOf is a simulated command task on an offer taking cpus, finishing after
// the given duration (Go form) unless it is "".
func commandTaskOf(id string, o mesos.Offer, cpus float64, after string) mesos.TaskInfo {
	ti := commandTask(id, o)
	ti.Resources = []mesos.Resource{scalar("cpus", cpus)}
	if after != "" {
		ti.Labels = &mesos.Labels{Labels: []mesos.Label{{Key: LabelFinishAfter, Value: ptr(after)}}}
	}
	return ti
}

// noOffer fails when an offer comes within d; other events are dropped.
func (s *sched) noOffer(d time.Duration, why string) {
	s.t.Helper()
	if len(s.skippedOffers) > 0 {
		s.t.Fatalf("%s: offered %v", why, s.skippedOffers[0].GetOffers().Offers)
	}
	deadline := time.After(d)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				s.t.Fatalf("%s: the stream closed", why)
			}
			if e.Type == scheduler.Event_OFFERS {
				s.t.Fatalf("%s: offered %v", why, e.GetOffers().Offers)
			}
		case <-deadline:
			return
		}
	}
}

// A framework that holds an offer of an agent is offered, in an offer of their own, the
// resources a task there frees (the allocator offers an agent's available resources,
// whatever offers of it are outstanding), and it may use both offers in one ACCEPT.
func TestConformanceFreedResourcesAreOfferedBesideAnOutstandingOffer(t *testing.T) {
	m := startSim(t, Config{Agents: 1, AgentResources: "cpus:4;mem:1024", AllocationInterval: 50 * time.Millisecond, UpdateRetry: 200 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("agent-1")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTaskOf("t1", o, 1, "200ms"))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	held := s.offer("agent-1")
	if got := scalars(held.Resources); got["cpus"] != 3 || got["mem"] != 1024 {
		t.Fatalf("offer beside t1: %v", got)
	}
	s.waitState("t1", mesos.TASK_FINISHED)
	freed := s.offer("agent-1")
	if got := scalars(freed.Resources); freed.ID == held.ID || got["cpus"] != 1 || got["mem"] != 0 {
		t.Fatalf("offer of what t1 freed, while %s is outstanding: %s %v", held.ID.Value, freed.ID.Value, got)
	}
	// A task as large as the agent fits the two offers taken together.
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTaskOf("t2", o, 4, ""))}.WithOffers(held.ID, freed.ID)).With(calls.RefuseSeconds(0)))
	s.waitState("t2", mesos.TASK_RUNNING)
}

// Resources below the master's --min_allocatable_resources (default cpus:0.01|mem:32)
// are not offered: an agent with only disk and ports left, or crumbs of cpus and mem,
// gets no offer until a task ends there.
func TestConformanceOnlyAllocatableResourcesAreOffered(t *testing.T) {
	m := startSim(t, Config{Agents: 1, AgentResources: "cpus:1;mem:64;disk:1000;ports:[31000-31010]", AllocationInterval: 50 * time.Millisecond, UpdateRetry: 200 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("agent-1")
	big := commandTaskOf("t1", o, 1, "800ms")
	big.Resources = append(big.Resources, scalar("mem", 64))
	crumbs := commandTaskOf("t2", o, 0.995, "")
	crumbs.Resources = append(crumbs.Resources, scalar("mem", 33))
	for _, tc := range []struct {
		task mesos.TaskInfo
		left string
	}{{big, "disk and ports"}, {crumbs, "0.005 cpus and 31 MB"}} {
		s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(tc.task)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
		s.waitState(tc.task.TaskID.Value, mesos.TASK_RUNNING)
		s.noOffer(300*time.Millisecond, "only "+tc.left+" left")
		if tc.task.TaskID.Value == "t1" {
			s.waitState("t1", mesos.TASK_FINISHED)
			o = s.offer("agent-1")
		}
	}
}

// A DECLINE filters only the resources declined (RefusedOfferFilter): when a task on the
// agent ends, the agent's resources, more than were declined, are offered before the
// refuse time is out.
func TestConformanceDeclineFiltersOnlyTheDeclinedResources(t *testing.T) {
	m := startSim(t, Config{Agents: 1, AgentResources: "cpus:4;mem:1024", AllocationInterval: 50 * time.Millisecond, UpdateRetry: 200 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("agent-1")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTaskOf("t1", o, 1, "1s"))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	rest := s.offer("agent-1")
	s.mustCall(calls.Decline(rest.ID).With(calls.RefuseSeconds(time.Hour)))
	s.noOffer(300*time.Millisecond, "declined for an hour")
	s.waitState("t1", mesos.TASK_FINISHED)
	again := s.offer("agent-1")
	if got := scalars(again.Resources); got["cpus"] != 4 || got["mem"] != 1024 {
		t.Fatalf("offer after t1 ended: %v, want the whole agent", got)
	}
}

// Refuse filters last while the framework is connected, a failover on a new connection
// before the old one broke included (Master::failoverFramework does not deactivate it);
// a framework whose stream broke is deactivated, which clears its filters
// (deactivateFramework), and is offered everything at once when it subscribes again.
func TestConformanceFiltersEndWithTheConnection(t *testing.T) {
	m := startSim(t, Config{Agents: 1, AllocationInterval: time.Hour})
	s := newSched(t, m)
	fi := info()
	s.subscribe(fi)
	o := s.offer("agent-1")
	s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(time.Hour)))

	s = newSchedWithID(t, m, s.id)
	s.subscribe(fi) // the old stream is still open
	s.noOffer(300*time.Millisecond, "declined for an hour, failed over while connected")

	m.DropStream(s.id)
	if msg := s.streamClosed(); msg != "" {
		t.Fatalf("dropped stream: ERROR %q", msg)
	}
	s.subscribe(fi)
	if again := s.offer("agent-1"); scalars(again.Resources)["cpus"] != scalars(o.Resources)["cpus"] {
		t.Fatalf("offer after subscribing again: %v, want what was declined", again)
	}
}

// refuse_seconds as recoverResources reads it: negative is the 5 s default, not "no
// filter"; and a framework keeps every filter it set on an agent, each running its
// course, a shorter later one included.
func TestConformanceRefuseSeconds(t *testing.T) {
	m := startSim(t, Config{Agents: 1, AgentResources: "cpus:4;mem:1024", AllocationInterval: 50 * time.Millisecond, UpdateRetry: 200 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("agent-1")
	s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(-time.Second)))
	s.noOffer(time.Second, "declined with refuse_seconds -1")
	s.mustCall(calls.Revive())
	o = s.offer("agent-1")

	// t1's ACCEPT filters the other 3 cpus for an hour; once it ended, the whole agent is
	// offered and declined for a moment: the first filter still holds 3 cpus back.
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTaskOf("t1", o, 1, "200ms"))}.WithOffers(o.ID)).With(calls.RefuseSeconds(time.Hour)))
	s.waitState("t1", mesos.TASK_FINISHED)
	o = s.offer("agent-1")
	s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(100 * time.Millisecond)))
	o = s.offer("agent-1")
	if got := scalars(o.Resources)["cpus"]; got != 4 {
		t.Fatalf("offer once the short filter ran out: %v cpus, want 4", got)
	}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTaskOf("t2", o, 1, ""))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	s.waitState("t2", mesos.TASK_RUNNING)
	s.noOffer(300*time.Millisecond, "3 cpus left, refused for an hour by t1's ACCEPT")
}

// offeredRoles waits for the next OFFERS event and returns the role each agent's offer
// is allocated to, by hostname.
func (s *sched) offeredRoles() map[string]string {
	s.t.Helper()
	roles := map[string]string{}
	for _, o := range s.next(scheduler.Event_OFFERS).GetOffers().Offers {
		roles[o.Hostname] = o.GetAllocationInfo().GetRole()
	}
	return roles
}

// declineAll declines every offer it is given for an hour, in one call: no allocation
// comes between.
func (s *sched) declineAll(offers []mesos.Offer) {
	s.t.Helper()
	ids := make([]mesos.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	s.mustCall(calls.Decline(ids...).With(calls.RefuseSeconds(time.Hour)))
}

// Every role of a MULTI_ROLE framework is offered resources: for each agent the
// allocator goes through the roles in the role sorter's order, a role with a smaller
// share first (src/master/allocator/mesos/hierarchical.cpp __generateOffers), and a
// refuse filter holds an agent back from the role it was set for only (isFiltered), so
// the next role is offered the agent instead. REVIVE with roles clears those roles'
// filters alone.
func TestConformanceEveryRoleOfAFrameworkIsOffered(t *testing.T) {
	m := startSim(t, Config{Agents: 2, AgentResources: "cpus:4;mem:1024", AllocationInterval: 50 * time.Millisecond})
	s := newSched(t, m)
	fi := info()
	fi.Roles = []string{"a", "b"}
	s.subscribe(fi)
	offers := s.next(scheduler.Event_OFFERS).GetOffers().Offers
	first := map[string]string{}
	for _, o := range offers {
		first[o.Hostname] = o.GetAllocationInfo().GetRole()
	}
	if len(first) != 2 || first["agent-1"] == first["agent-2"] {
		t.Fatalf("first offers by role %v, want one agent for each role", first)
	}
	s.declineAll(offers)
	offers = s.next(scheduler.Event_OFFERS).GetOffers().Offers
	for _, o := range offers {
		if role := o.GetAllocationInfo().GetRole(); role == first[o.Hostname] {
			t.Fatalf("%s offered again to role %s, which declined it for an hour", o.Hostname, role)
		}
	}
	if len(offers) != 2 {
		t.Fatalf("offers %v after the first were declined, want each agent to the other role", offers)
	}
	s.declineAll(offers)
	s.noOffer(300*time.Millisecond, "every agent declined for an hour by both roles")

	s.mustCall(calls.ReviveWith([]string{"b"}))
	if got := s.offeredRoles(); got["agent-1"] != "b" || got["agent-2"] != "b" {
		t.Fatalf("offers after reviving role b: %v, want both agents to b", got)
	}
}

// The role sorter orders roles by dominant share first (DRFSorter's compareDRF): a role
// whose task holds an agent is offered the other agent after a role with nothing,
// though each has been offered as often and the first comes first by name.
func TestConformanceRolesAreOfferedByShare(t *testing.T) {
	m := startSim(t, Config{Agents: 2, AgentResources: "cpus:4;mem:1024", AllocationInterval: 50 * time.Millisecond})
	s := newSched(t, m)
	fi := info()
	fi.Roles = []string{"a", "b"}
	s.subscribe(fi)
	offers := s.next(scheduler.Event_OFFERS).GetOffers().Offers
	if len(offers) != 2 {
		t.Fatalf("first offers %v, want one per agent", offers)
	}
	for _, o := range offers {
		if o.GetAllocationInfo().GetRole() == "a" {
			ti := commandTaskOf("t1", o, 4, "")
			ti.Resources = append(ti.Resources, scalar("mem", 1024))
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
		} else {
			s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(0)))
		}
	}
	s.waitState("t1", mesos.TASK_RUNNING)
	for range 3 {
		for _, o := range s.next(scheduler.Event_OFFERS).GetOffers().Offers {
			if role := o.GetAllocationInfo().GetRole(); role != "b" {
				t.Fatalf("%s offered to role %s, whose task holds the other agent, before role b with nothing", o.Hostname, role)
			}
			s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(0)))
		}
	}
}
