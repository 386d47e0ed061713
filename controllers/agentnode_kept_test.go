package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

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
