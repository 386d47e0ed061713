package controllers

import (
	"context"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
)

// unlistedAgentsGrace is how long after subscribing the Nodes of agents the driver does
// not know are kept as they are while the master's list of agents is missing: the
// operator API refuses GET_AGENTS (the master's ACLs), fails, or has not answered yet.
// An agent with resources to spare offers them within seconds of a subscription (the
// allocator runs every second), and the list is asked for again every 30 s; after a
// minute, an agent neither listed nor offering is taken for gone. A fully used agent
// offers nothing: where the master refuses GET_AGENTS, its Node then goes Unknown until
// the agent offers again.
const unlistedAgentsGrace = time.Minute

// keptNodes are the Nodes of agents the driver does not take for live that a pass keeps
// as they are (keepNodes), rather than take their agents for gone.
type keptNodes struct {
	// all: every Node, while the agents are not known yet for this subscription.
	all bool
	// names are the Nodes of agents the master knows but that are not active: recovered
	// from its registry after a failover and not registered again, or inactive.
	names map[string]bool
}

func (k keptNodes) has(node string) bool { return k.all || k.names[node] }

// nodesToKeep says which Nodes of a subscribed cluster a pass keeps as they are, and
// when the next pass is due for them to be settled. A new Driver (the manager started,
// took over as leader, or made the driver anew) knows no agent until the master lists
// them or they offer: a pass before would take every agent for gone, and their Nodes
// would go Unknown, be tainted and untainted, for nothing.
func nodesToKeep(cluster string, status framework.Status, now time.Time) (kept keptNodes, requeue time.Duration) {
	requeue = math.MaxInt64
	if !status.Subscribed {
		return kept, requeue
	}
	if !status.AgentsListed {
		if left := unlistedAgentsGrace - now.Sub(status.SubscribedAt); left > 0 {
			kept.all, requeue = true, max(left, time.Second)
		}
	}
	kept.names = make(map[string]bool, len(status.Inactive))
	for _, a := range status.Inactive {
		kept.names[agentnode.NodeName(cluster, a.Hostname, a.Port)] = true
	}
	return kept, requeue
}

// keepNodes keeps Nodes as they are: nothing is written to them, and the Lease of each
// Ready one is renewed, so that kube-controller-manager does not take it for gone either.
func (r *AgentNodeReconciler) keepNodes(ctx context.Context, mc *mesosv1alpha1.MesosCluster, nodes []*corev1.Node, now time.Time) {
	forEach(ctx, len(nodes), nodePace(len(nodes), r.leaseDuration()), func(i int) {
		n := nodes[i]
		if ready := agentnode.ReadyCondition(n); ready == nil || ready.Status != corev1.ConditionTrue || n.UID == "" {
			return
		}
		r.nodeFailed(ctx, mc.Name, n.Name, r.renewLease(ctx, n, now))
	})
}
