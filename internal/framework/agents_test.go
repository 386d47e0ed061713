package framework

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// After a master failover GET_AGENTS lists the agents the new master recovered from its
// registry, and that have not registered with it again, apart (recovered_agents: their
// SlaveInfo only). They are agents of the cluster, not active.
func TestGetAgentsListsRecoveredAgents(t *testing.T) {
	port := int32(5052)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		resp := master.Response{Type: master.Response_GET_AGENTS, GetAgents: &master.Response_GetAgents{
			Agents: []master.Response_GetAgents_Agent{agentOf("a1", "host-1", true)},
			RecoveredAgents: []mesos.AgentInfo{
				{ID: &mesos.AgentID{Value: "a2"}, Hostname: "host-2", Port: &port, Resources: []mesos.Resource{scalar("cpus", 4)}},
				{Hostname: "no-id"},
			}}}
		b, _ := resp.Marshal()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c := &Connection{cfg: Config{RequestTimeout: 5 * time.Second}, operator: srv.URL}
	got, err := c.GetAgents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("agents = %+v, want a1 and the recovered a2", got)
	}
	r := got[1]
	if r.ID != "a2" || r.Hostname != "host-2" || r.Port != 5052 || r.Active || !r.Recovered ||
		len(r.Total) != 1 || r.Total[0].GetScalar().GetValue() != 4 {
		t.Errorf("recovered agent = %+v, want a2 on host-2:5052, recovered, not active, with its 4 cpus", r)
	}
	if got[0].Recovered {
		t.Errorf("registered agent a1 is said recovered")
	}
}

// The agents the master lists but that are not active (recovered after a failover, or
// inactive) are no agents that left: one known stays known, marked inactive, one not
// known is held in Inactive, so that its Node is kept as it is.
func TestRecordAgentsKeepsRecoveredAndInactiveAgents(t *testing.T) {
	asked := time.Now()
	d := &Driver{Connection: &Connection{}, status: Status{Subscribed: true, Subscription: 1, Agents: map[string]Agent{
		"known-recovered": {ID: "known-recovered", Hostname: "h1", LastOffer: asked.Add(-time.Minute)},
		"left":            {ID: "left", Hostname: "h2", LastOffer: asked.Add(-time.Minute)},
	}}}
	d.recordAgents([]MasterAgent{
		{ID: "known-recovered", Hostname: "h1", Recovered: true},
		{ID: "new-recovered", Hostname: "h3", Port: 5052, Recovered: true},
		{ID: "new-inactive", Hostname: "h4"},
		{ID: "active", Hostname: "h5", Active: true},
	}, nil, asked, 1)
	st := d.Status()
	if got, want := slices.Sorted(maps.Keys(st.Agents)), []string{"active", "known-recovered"}; !slices.Equal(got, want) {
		t.Errorf("agents %v, want %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(st.Inactive)), []string{"new-inactive", "new-recovered"}; !slices.Equal(got, want) {
		t.Errorf("inactive agents %v, want %v", got, want)
	}
	if a := st.Inactive["new-recovered"]; a.Hostname != "h3" || a.Port != 5052 {
		t.Errorf("recovered agent %+v, want its hostname and port, which name its Node", a)
	}
	// A known agent listed inactive says so, for the Node it shares with another id
	// (see the agent Node reconciler), until it is listed active again.
	if !st.Agents["known-recovered"].Inactive || st.Agents["active"].Inactive {
		t.Errorf("inactive: known-recovered %v, active %v; want true, false", st.Agents["known-recovered"].Inactive, st.Agents["active"].Inactive)
	}
	d.recordAgents([]MasterAgent{{ID: "known-recovered", Hostname: "h1", Active: true}}, nil, time.Now(), 1)
	if d.Status().Agents["known-recovered"].Inactive {
		t.Error("an agent listed active again is still inactive")
	}
}

// The agents are listed for a subscription once GET_AGENTS answered during it: an answer
// asked during an earlier subscription, or a failure, does not count, and a new
// subscription waits for its own list.
func TestAgentsListedForTheCurrentSubscription(t *testing.T) {
	d := &Driver{Connection: &Connection{}, observer: noObserver{}, status: Status{Agents: map[string]Agent{}}}
	h := driverHandler{d}
	before := time.Now()
	subscribe(d.Connection)
	earlier := d.Subscription()
	d.ended()
	subscribe(d.Connection)
	h.Subscribed(context.Background(), "fw", nil)
	current := d.Subscription()
	for _, tc := range []struct {
		name         string
		err          error
		subscription uint64
		want         bool
	}{
		{name: "asked during an earlier subscription", subscription: earlier},
		{name: "refused", err: errors.New("403 Forbidden"), subscription: current},
		{name: "answered", subscription: current, want: true},
	} {
		d.recordAgents(nil, tc.err, time.Now(), tc.subscription)
		if got := d.Status().AgentsListed; got != tc.want {
			t.Errorf("%s: AgentsListed = %v, want %v", tc.name, got, tc.want)
		}
	}
	if at := d.Status().SubscribedAt; at.Before(before) {
		t.Errorf("SubscribedAt = %v, want the subscription's time", at)
	}
	subscribe(d.Connection)
	h.Subscribed(context.Background(), "fw", nil)
	if d.Status().AgentsListed {
		t.Error("a new subscription has the agents listed before it asked for them")
	}
}

// Mesos shows an agent registered otherwise than by its offers and the list: the master
// forwards the messages of a registered agent's executors only, and has a task's latest
// state only while its agent is registered. An agent so shown since the subscription is
// Reported, until Mesos says it is lost (a FAILURE naming it, or a task on it
// unreachable, unknown or gone by the operator); a new subscription starts anew.
func TestAgentsReportedSinceTheSubscription(t *testing.T) {
	d := &Driver{Connection: &Connection{}, observer: noObserver{}, status: Status{Agents: map[string]Agent{}}}
	h := driverHandler{d}
	ctx := context.Background()
	subscribe(d.Connection)
	h.Subscribed(ctx, "fw", nil)
	update := func(agent string, state mesos.TaskState) {
		h.Update(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t-" + agent}, AgentID: &mesos.AgentID{Value: agent}, State: state.Enum()},
			func(context.Context) error { return nil })
	}
	reported := func() []string { return slices.Sorted(maps.Keys(d.Status().Reported)) }
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"an executor's message", func() { h.Message(ctx, "a1", "e1", []byte("hello")) }, []string{"a1"}},
		{"a running task", func() { update("a2", mesos.TASK_RUNNING) }, []string{"a1", "a2"}},
		{"a task being killed", func() { update("a3", mesos.TASK_KILLING) }, []string{"a1", "a2", "a3"}},
		{"a task that finished says nothing of its agent now", func() { update("a4", mesos.TASK_FINISHED) }, []string{"a1", "a2", "a3"}},
		{"a task unreachable", func() { update("a1", mesos.TASK_UNREACHABLE) }, []string{"a2", "a3"}},
		{"a task unknown", func() { update("a3", mesos.TASK_UNKNOWN) }, []string{"a2"}},
		{"the agent's FAILURE", func() { h.Failure(ctx, &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: "a2"}}) }, nil},
		{"reported again", func() { update("a2", mesos.TASK_STARTING) }, []string{"a2"}},
		{"a new subscription", func() { subscribe(d.Connection); h.Subscribed(ctx, "fw", nil) }, nil},
	}
	for _, s := range steps {
		s.do()
		if got := reported(); !slices.Equal(got, s.want) {
			t.Errorf("%s: reported %v, want %v", s.name, got, s.want)
		}
	}
}

// An agent's first report wakes the operator only while the master's list of agents is
// missing, the only time the Nodes read the reports: once listed, a wake-up per agent
// would be a pass over every pod and Node of the cluster per agent.
func TestReportsWakeTheOperatorOnlyWhileAgentsAreNotListed(t *testing.T) {
	for _, listed := range []bool{false, true} {
		notified := 0
		d := &Driver{Connection: &Connection{}, observer: noObserver{}, notify: func() { notified++ }, status: Status{Agents: map[string]Agent{}}}
		h := driverHandler{d}
		ctx := context.Background()
		subscribe(d.Connection)
		h.Subscribed(ctx, "fw", nil)
		d.mu.Lock()
		d.status.AgentsListed = listed
		d.mu.Unlock()
		before := notified
		h.Message(ctx, "a1", "e1", []byte("hello"))
		h.Message(ctx, "a1", "e1", []byte("hello"))
		want := 1
		if listed {
			want = 0
		}
		if got := notified - before; got != want {
			t.Errorf("agents listed %v: %d wake-ups, want %d", listed, got, want)
		}
		if _, ok := d.Status().Reported["a1"]; !ok {
			t.Errorf("agents listed %v: the report was not recorded", listed)
		}
	}
}

// A list asked before Mesos said an agent is gone (a FAILURE naming it: removed, or
// unreachable) says nothing of it: the agent is not taken back from that list, and its
// Node stays away until a list asked since shows it, or it offers again.
func TestAListOlderThanAnAgentsFailureDoesNotBringItBack(t *testing.T) {
	asked := time.Now()
	d := &Driver{Connection: &Connection{}, status: Status{Subscribed: true, Subscription: 1, AgentsListed: true, Agents: map[string]Agent{
		"a1": {ID: "a1", Hostname: "h1", LastOffer: asked.Add(-time.Minute)},
		"a2": {ID: "a2", Hostname: "h2", LastOffer: asked.Add(-time.Minute)},
	}}}
	h := driverHandler{d}
	h.Failure(context.Background(), &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: "a1"}})
	listed := []MasterAgent{{ID: "a1", Hostname: "h1", Active: true}, {ID: "a2", Hostname: "h2", Active: true}}
	d.recordAgents(listed, nil, asked, 1)
	if got, want := d.AgentIDs(), []string{"a2"}; !slices.Equal(got, want) {
		t.Fatalf("after a list asked before a1's FAILURE, agents = %v, want %v", got, want)
	}
	d.recordAgents(listed, nil, time.Now(), 1)
	if got, want := d.AgentIDs(), []string{"a1", "a2"}; !slices.Equal(got, want) {
		t.Fatalf("after a list asked since, agents = %v, want %v", got, want)
	}
}
