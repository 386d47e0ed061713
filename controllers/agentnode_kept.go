package controllers

import (
	"context"
	"maps"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
)

// unlistedAgentsGrace is how long after subscribing the Nodes of agents the driver does
// not know are kept as they are while the master's list of agents is missing: the
// operator API refuses GET_AGENTS (the master's ACLs), fails, or has not answered yet.
// An agent with resources to spare offers them within seconds of a subscription (the
// allocator runs every second), and the list is asked for again every 30 s. A fully
// used agent offers nothing, nor does any once the scheduler, with nothing pending,
// suppressed offers after the first round; but Mesos answers the reconciliation of the
// tasks on a registered agent within seconds, and its executors' messages come through
// the master (framework.Status.Reported). After a minute, an agent neither listed,
// offering nor so reported is taken for gone.
const unlistedAgentsGrace = time.Minute

// keptNodes are the Nodes of agents the driver does not take for live that a pass keeps
// as they are (keepNodes), rather than take their agents for gone.
type keptNodes struct {
	// all: every Node, while the agents are not known yet for this subscription.
	all bool
	// names are the Nodes of agents the master knows but that are not active: recovered
	// from its registry after a failover and not registered again, or inactive; and,
	// while the master's list is missing, those in reported.
	names map[string]bool
	// reported are the Nodes, by name, of agents Mesos showed registered since the
	// subscription otherwise than by offers (framework.Status.Reported), while the master's
	// list is missing: they are Ready, made so again if they were not.
	reported map[string]bool
}

func (k keptNodes) has(node string) bool { return k.all || k.names[node] }

// nodesToKeep says which of a subscribed cluster's Nodes a pass keeps as they are, and
// when the next pass is due for them to be settled. A new Driver (the manager started,
// took over as leader, or made the driver anew) knows no agent until the master lists
// them or they offer: a pass before would take every agent for gone, and their Nodes
// would go Unknown, be tainted and untainted, for nothing. While the list is missing,
// the Node of an agent Mesos reported registered otherwise (status.Reported) is kept
// too, found by its agent id annotation: the driver knows no more of that agent than
// its id.
func nodesToKeep(cluster string, nodes []corev1.Node, status framework.Status, now time.Time) (kept keptNodes, requeue time.Duration) {
	requeue = math.MaxInt64
	if !status.Subscribed {
		return kept, requeue
	}
	kept.names = make(map[string]bool, len(status.Inactive))
	if !status.AgentsListed {
		if left := unlistedAgentsGrace - now.Sub(status.SubscribedAt); left > 0 {
			kept.all, requeue = true, max(left, time.Second)
		}
		kept.reported = reportedNodes(nodes, status.Reported)
		maps.Copy(kept.names, kept.reported)
	}
	for _, a := range status.Inactive {
		kept.names[agentnode.NodeName(cluster, a.Hostname, a.Port)] = true
	}
	return kept, requeue
}

// reportedNodes are the names of the Nodes whose agent id annotation names an agent in
// reported.
func reportedNodes(nodes []corev1.Node, reported map[string]bool) map[string]bool {
	if len(reported) == 0 {
		return nil
	}
	out := map[string]bool{}
	for i := range nodes {
		if reported[nodes[i].Annotations[agentnode.AnnotationAgentID]] {
			out[nodes[i].Name] = true
		}
	}
	return out
}

// keepNodes keeps Nodes as they are: nothing of their agent is written to them, and the
// Lease of each Ready one is renewed, so that kube-controller-manager does not take it
// for gone either. A Node kept for its agent reported registered (kept.reported) that is
// not Ready is made Ready first: Mesos showed the agent registered since it went (its
// tasks' updates after it registered again, say). While subscribed, a Ready one that still
// says the master is unreachable (since an outage before this subscription) is told it is reachable:
// left so, the next outage would be taken to have lasted since then, and past the
// failover timeout turn the Node Unknown at once (agentnode.Outage).
func (r *AgentNodeReconciler) keepNodes(ctx context.Context, mc *mesosv1alpha1.MesosCluster, nodes []*corev1.Node, kept keptNodes, subscribed bool, now time.Time, age time.Duration) {
	forEach(ctx, len(nodes), nodePace(len(nodes), r.leaseDuration()), func(i int) {
		n := nodes[i]
		if n.UID == "" {
			return
		}
		var conds []corev1.NodeCondition
		if ready := agentnode.ReadyCondition(n); ready == nil || ready.Status != corev1.ConditionTrue {
			if !kept.reported[n.Name] {
				return
			}
			ctrl.LoggerFrom(ctx).Info("Making the Node of an agent Mesos reports registered Ready again", "node", n.Name,
				"agent", n.Annotations[agentnode.AnnotationAgentID])
			conds = append(conds, agentnode.ReportedCondition(metav1.NewTime(now), n.Status.Conditions))
		}
		if subscribed && masterUnreachable(n) {
			conds = append(conds, agentnode.ReachableCondition(metav1.NewTime(now), n.Status.Conditions))
		}
		if len(conds) > 0 {
			if err := r.writeConditions(ctx, n, conds...); err != nil {
				r.nodeFailed(ctx, mc.Name, n.Name, err)
				return
			}
		}
		r.nodeFailed(ctx, mc.Name, n.Name, r.renewLease(ctx, n, now, age))
	})
}

// masterUnreachable says whether a Node says the framework cannot reach the master.
func masterUnreachable(n *corev1.Node) bool {
	c := agentnode.Condition(n, agentnode.ConditionMasterReachable)
	return c != nil && c.Status != corev1.ConditionTrue
}
