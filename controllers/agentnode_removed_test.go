package controllers

import (
	"context"
	"strings"
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

// Once Mesos removed the framework, the agents' Nodes say so, and what to do: Ready is
// Unknown (no Lease is renewed: nothing runs there for the cluster any more) with reason
// MesosFrameworkRemoved, rather than the words of an agent that left, which send people
// looking at the agent. A Node gone Unknown before says so too. A refusal of another kind
// keeps the Nodes through the outage as before.
func TestTheNodesOfARemovedFrameworkSaySo(t *testing.T) {
	a := testAgents(1)[0]
	agents := map[string]framework.Agent{a.ID: {ID: a.ID, Hostname: a.Hostname, Port: a.Port, IP: a.IP}}
	for _, tc := range []struct {
		name    string
		refused string
		ready   bool // the Node's before
		want    corev1.ConditionStatus
		reason  string
	}{
		{"Ready", "Framework has been removed", true, corev1.ConditionUnknown, agentnode.ReasonFrameworkRemoved},
		{"Unknown already", "Framework has been removed", false, corev1.ConditionUnknown, agentnode.ReasonFrameworkRemoved},
		{"taken over", "Framework failed over", true, corev1.ConditionTrue, agentnode.ReasonAgentReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			node := agentNodeObject(a, !tc.ready, now)
			c, _ := fakeAPI(t, interceptor.Funcs{}, node)
			r := &AgentNodeReconciler{Client: c}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"},
				Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}}
			var nodes corev1.NodeList
			if err := c.List(context.Background(), &nodes); err != nil {
				t.Fatal(err)
			}
			r.pass(context.Background(), mc, nodes.Items, framework.Status{Refused: tc.refused, FrameworkID: "fw-1", Agents: agents}, now)

			got := &corev1.Node{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(node), got); err != nil {
				t.Fatal(err)
			}
			ready := agentnode.ReadyCondition(got)
			if ready == nil || ready.Status != tc.want || ready.Reason != tc.reason {
				t.Fatalf("Ready %+v, want %s/%s", ready, tc.want, tc.reason)
			}
			if tc.reason == agentnode.ReasonFrameworkRemoved && (!strings.Contains(ready.Message, "removed framework fw-1") || !strings.Contains(ready.Message, "MesosCluster")) {
				t.Errorf("Ready message %q, want it to say that Mesos removed fw-1, and what to do with the MesosCluster", ready.Message)
			}
			err := c.Get(context.Background(), client.ObjectKey{Namespace: nodeLeaseNamespace, Name: node.Name}, &coordinationv1.Lease{})
			if renewed := err == nil; renewed != (tc.want == corev1.ConditionTrue) {
				t.Errorf("Lease renewed: %v (%v), want %v", renewed, err, !renewed)
			}
		})
	}
}
