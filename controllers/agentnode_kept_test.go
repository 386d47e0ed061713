package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
)

// A Node whose agent the driver does not know is kept as it is, Ready with its Lease
// renewed, until the master's list of agents says the agent left: a driver made anew
// (the manager restarted, failed over, or remade the driver) knows no agent before the
// list. Where the master refuses the list, a Node is kept for unlistedAgentsGrace, the
// time its agent has to offer, and for as long as Mesos showed its agent registered
// since the subscription otherwise (a message of its executor, an update of a running
// task on it): a fully used agent offers nothing, nor one whose offers the scheduler
// suppressed once nothing was pending. Such a Node that went Unknown is Ready again. The
// Node of an agent the master recovered from its registry after a failover, or lists
// inactive, is kept until it is listed no more.
func TestNodesOfAgentsNotKnownYetAreKept(t *testing.T) {
	refused := errors.New("GET_AGENTS: 403 Forbidden")
	a := testAgents(1)[0]
	inactive := map[string]framework.Agent{a.ID: {ID: a.ID, Hostname: a.Hostname, Port: a.Port}}
	for _, tc := range []struct {
		name      string
		since     time.Duration // since the subscription
		listed    bool
		inactive  map[string]framework.Agent
		agentsErr error
		reported  bool // Mesos showed the agent registered since the subscription
		unknown   bool // the Node was Ready=Unknown
		wantKept  bool
	}{
		{name: "not listed yet", since: time.Second, wantKept: true},
		{name: "list refused, agent may still offer", since: 30 * time.Second, agentsErr: refused, wantKept: true},
		{name: "list refused, agent did not offer", since: unlistedAgentsGrace, agentsErr: refused},
		{name: "list refused, its executor or a task on it reported", since: unlistedAgentsGrace, agentsErr: refused, reported: true, wantKept: true},
		{name: "list refused, reported after its Node went Unknown", since: 5 * time.Minute, agentsErr: refused, reported: true, unknown: true,
			wantKept: true},
		{name: "listed, not there though reported", since: unlistedAgentsGrace, listed: true, reported: true},
		{name: "listed, recovered or inactive", since: unlistedAgentsGrace, listed: true, inactive: inactive, wantKept: true},
		{name: "listed, not there", since: time.Second, listed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			node := agentNodeObject(a, false, now)
			if tc.unknown {
				agentnode.ReadyCondition(node).Status = corev1.ConditionUnknown
			}
			c, _ := fakeAPI(t, interceptor.Funcs{}, node)
			r := &AgentNodeReconciler{Client: c}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			var nodes corev1.NodeList
			if err := c.List(context.Background(), &nodes); err != nil {
				t.Fatal(err)
			}
			st := framework.Status{Subscribed: true, SubscribedAt: now.Add(-tc.since), AgentsListed: tc.listed,
				Inactive: tc.inactive, AgentsError: tc.agentsErr}
			if tc.reported {
				st.Reported = map[string]bool{a.ID: true}
			}
			requeue := r.pass(context.Background(), mc, nodes.Items, st, now)
			if requeue <= 0 || requeue > r.leaseDuration()/4 {
				t.Errorf("the next pass is due in %v, want within %v", requeue, r.leaseDuration()/4)
			}
			got := &corev1.Node{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(node), got); err != nil {
				t.Fatal(err)
			}
			ready := agentnode.ReadyCondition(got)
			want := corev1.ConditionUnknown
			if tc.wantKept {
				want = corev1.ConditionTrue
			}
			if ready == nil || ready.Status != want {
				t.Errorf("Ready %v, want %s", ready, want)
			}
			err := c.Get(context.Background(), client.ObjectKey{Namespace: nodeLeaseNamespace, Name: node.Name}, &coordinationv1.Lease{})
			if renewed := err == nil; renewed != tc.wantKept {
				t.Errorf("Lease renewed: %v (%v), want %v", renewed, err, tc.wantKept)
			}
		})
	}
}

// Until the agents are listed, the pass that settles the Nodes not kept any longer is
// due when unlistedAgentsGrace ends.
func TestNodesToKeepSaysWhenTheGraceEnds(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		status   framework.Status
		wantAll  bool
		wantNext time.Duration
	}{
		{name: "not subscribed", status: framework.Status{SubscribedAt: now}},
		{name: "just subscribed", status: framework.Status{Subscribed: true, SubscribedAt: now.Add(-10 * time.Second)},
			wantAll: true, wantNext: unlistedAgentsGrace - 10*time.Second},
		{name: "listed", status: framework.Status{Subscribed: true, SubscribedAt: now, AgentsListed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, next := nodesToKeep("m", nil, tc.status, now)
			if kept.all != tc.wantAll {
				t.Errorf("every Node kept: %v, want %v", kept.all, tc.wantAll)
			}
			if tc.wantNext > 0 && next != tc.wantNext {
				t.Errorf("next pass in %v, want %v", next, tc.wantNext)
			}
		})
	}
}

// An agent the driver knows from before the current subscription (offers or a list of
// an earlier one) may have left while the framework was away: Mesos sends no FAILURE of
// an agent removed, or found unreachable, while the framework is disconnected. Where the
// master refuses its list, such an agent is live only as a Node not known yet is: for
// unlistedAgentsGrace, or while it offers or Mesos shows it registered since. Otherwise
// its Node stayed Ready, its Lease renewed, for as long as the driver ran.
func TestAnAgentOfAnEarlierSubscriptionIsLiveOnlyWhileMesosShowsIt(t *testing.T) {
	refused := errors.New("GET_AGENTS: 403 Forbidden")
	a := testAgents(1)[0]
	for _, tc := range []struct {
		name        string
		since       time.Duration // since the subscription
		offeredLate bool          // the agent offered since the subscription
		reported    bool
		listed      bool
		want        corev1.ConditionStatus
	}{
		{name: "list refused, within the grace", since: 30 * time.Second, want: corev1.ConditionTrue},
		{name: "list refused, not heard of since", since: unlistedAgentsGrace, want: corev1.ConditionUnknown},
		{name: "list refused, offered since", since: unlistedAgentsGrace, offeredLate: true, want: corev1.ConditionTrue},
		{name: "list refused, reported since", since: unlistedAgentsGrace, reported: true, want: corev1.ConditionTrue},
		{name: "listed for this subscription", since: unlistedAgentsGrace, listed: true, want: corev1.ConditionTrue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			subscribedAt := now.Add(-tc.since)
			node := agentNodeObject(a, false, now)
			c, _ := fakeAPI(t, interceptor.Funcs{}, node)
			r := &AgentNodeReconciler{Client: c, heard: func(string) map[string]int32 { return nil }}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			var nodes corev1.NodeList
			if err := c.List(context.Background(), &nodes); err != nil {
				t.Fatal(err)
			}
			known := framework.Agent{ID: a.ID, Hostname: a.Hostname, Port: a.Port, IP: a.IP, LastOffer: subscribedAt.Add(-time.Hour)}
			if tc.offeredLate {
				known.LastOffer = subscribedAt.Add(time.Second)
			}
			st := framework.Status{Subscribed: true, SubscribedAt: subscribedAt, AgentsListed: tc.listed,
				Agents: map[string]framework.Agent{a.ID: known}}
			if !tc.listed {
				st.AgentsError = refused
			}
			if tc.reported {
				st.Reported = map[string]bool{a.ID: true}
			}
			r.pass(context.Background(), mc, nodes.Items, st, now)
			got := &corev1.Node{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(node), got); err != nil {
				t.Fatal(err)
			}
			if ready := agentnode.ReadyCondition(got); ready == nil || ready.Status != tc.want {
				t.Errorf("Ready %v, want %s", ready, tc.want)
			}
		})
	}
}

// A Node kept as it is while subscribed (its agent recovered by a master that failed
// over, or listed inactive: deactivated, its tasks running) says the master is reachable
// again. Left saying MesosMasterReachable=False since an earlier outage (a manager
// restart, say), the next outage, however short, was taken to have lasted since then:
// past the failover timeout, the Node went Unknown at once, and stayed so.
func TestAKeptNodeSaysTheMasterIsReachable(t *testing.T) {
	a := testAgents(1)[0]
	now := time.Now()
	node := agentNodeObject(a, false, now)
	long := now.Add(-30 * 24 * time.Hour) // an outage that began long ago, past the failover timeout
	for i := range node.Status.Conditions {
		if c := &node.Status.Conditions[i]; c.Type == agentnode.ConditionMasterReachable {
			c.Status, c.Reason, c.LastTransitionTime = corev1.ConditionFalse, agentnode.ReasonMasterUnreachable, metav1.NewTime(long)
		}
	}
	c, _ := fakeAPI(t, interceptor.Funcs{}, node)
	r := &AgentNodeReconciler{Client: c}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}, Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw"}}
	pass := func(st framework.Status, at time.Time) *corev1.Node {
		t.Helper()
		var nodes corev1.NodeList
		if err := c.List(context.Background(), &nodes); err != nil {
			t.Fatal(err)
		}
		r.pass(context.Background(), mc, nodes.Items, st, at)
		got := &corev1.Node{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(node), got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	inactive := map[string]framework.Agent{a.ID: {ID: a.ID, Hostname: a.Hostname, Port: a.Port, Inactive: true}}
	got := pass(framework.Status{Subscribed: true, SubscribedAt: now.Add(-time.Hour), AgentsListed: true, Inactive: inactive}, now)
	if ready := agentnode.ReadyCondition(got); ready == nil || ready.Status != corev1.ConditionTrue {
		t.Fatalf("the kept Node is not Ready: %v", ready)
	}
	for _, cond := range got.Status.Conditions {
		if cond.Type == agentnode.ConditionMasterReachable && cond.Status != corev1.ConditionTrue {
			t.Errorf("a subscribed pass leaves the kept Node saying %s=%s since %v", cond.Type, cond.Status, cond.LastTransitionTime)
		}
	}
	// A short outage begins: the Node stays Ready.
	got = pass(framework.Status{}, now.Add(time.Minute))
	if ready := agentnode.ReadyCondition(got); ready == nil || ready.Status != corev1.ConditionTrue {
		t.Errorf("a minute into an outage the Node is %v, want Ready", ready)
	}
}

// A new driver (a start, a new leader) knows an agent only from its offers until the
// master lists the agents: what its tasks leave free. The agent's Node, written from
// that, went down to it and back up once the list came (600 Node writes at 1,000
// agents, while the new leader's tasks were being reconciled): it is kept as it is
// until then. A new agent's Node is made from its offers, and so are the Nodes once the
// master refused the list.
func TestANodeIsNotWrittenFromOffersWhileTheAgentsAreBeingListed(t *testing.T) {
	cpus := func(n float64) mesos.Resources {
		return mesos.Resources{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: n}}}
	}
	agents := testAgents(2)
	for _, tc := range []struct {
		name      string
		listed    bool
		agentsErr error
		wantCPU   string // of the Node that existed
	}{
		{name: "list on its way", wantCPU: "64"},
		{name: "listed", listed: true, wantCPU: "32"},
		{name: "list refused", agentsErr: errors.New("GET_AGENTS: forbidden (HTTP 403)"), wantCPU: "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			known := agents[0]
			known.Resources, known.Allocatable = cpus(64), cpus(64)
			node := agentNodeObject(known, false, now)
			c, _ := fakeAPI(t, interceptor.Funcs{}, node)
			r := &AgentNodeReconciler{Client: c}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			st := framework.Status{Subscribed: true, SubscribedAt: now.Add(-time.Second), AgentsListed: tc.listed, AgentsError: tc.agentsErr,
				Agents: map[string]framework.Agent{}}
			for _, a := range agents {
				fa := framework.Agent{ID: a.ID, Hostname: a.Hostname, Port: a.Port, IP: a.IP, Capacity: cpus(2), Allocatable: cpus(2), LastOffer: now}
				if tc.listed {
					fa.Total, fa.Capacity, fa.Allocatable = cpus(32), cpus(32), cpus(32)
				}
				st.Agents[a.ID] = fa
			}
			var nodes corev1.NodeList
			if err := c.List(context.Background(), &nodes); err != nil {
				t.Fatal(err)
			}
			r.pass(context.Background(), mc, nodes.Items, st, now)

			got := &corev1.Node{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(node), got); err != nil {
				t.Fatal(err)
			}
			if cpu := got.Status.Capacity[corev1.ResourceCPU]; cpu.String() != tc.wantCPU {
				t.Errorf("the Node that existed has %s CPUs, want %s", cpu.String(), tc.wantCPU)
			}
			expectLeasesRenewed(t, c, []string{node.Name}, now)
			made := &corev1.Node{}
			if err := c.Get(context.Background(), client.ObjectKey{Name: agentnode.NodeName("m", agents[1].Hostname, agents[1].Port)}, made); err != nil {
				t.Errorf("a new agent's Node was not made: %v", err)
			}
		})
	}
}
