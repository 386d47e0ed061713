package controllers

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
)

// ReasonNodeNameTaken is the reason of the Warning event on a MesosCluster whose agent's
// Node name is held by a Node of another MesosCluster.
const ReasonNodeNameTaken = "NodeNameTaken"

// liveAgents are the agents whose Nodes a pass writes, one per Node name. An agent that
// restarted with a new id on the same host and port is known under both ids until the
// master's list drops the old one, and two writes of one Node would each put back their
// own agent's id and capacity, each write waking another pass. The agent the master
// takes for active wins, then the one that offered last, then the greater id, so that
// every pass picks the same.
func liveAgents(mc *mesosv1alpha1.MesosCluster, status framework.Status) []agentnode.Agent {
	best := make(map[string]framework.Agent, len(status.Agents))
	for _, a := range status.Agents {
		name := agentnode.NodeName(mc.Name, a.Hostname, a.Port)
		if b, ok := best[name]; !ok || preferAgent(a, b) {
			best[name] = a
		}
	}
	agents := make([]agentnode.Agent, 0, len(best))
	for _, a := range best {
		agents = append(agents, agentnode.Agent{ID: a.ID, Hostname: a.Hostname, Port: a.Port, IP: a.IP, Attributes: a.Attributes, Resources: a.Capacity,
			KubeletPort: mc.Spec.KubeletAPIPort()})
	}
	return agents
}

// preferAgent says whether a, rather than b, is the agent of the Node both map to.
func preferAgent(a, b framework.Agent) bool {
	switch {
	case a.Inactive != b.Inactive:
		return !a.Inactive
	case !a.LastOffer.Equal(b.LastOffer):
		return a.LastOffer.After(b.LastOffer)
	}
	return strings.Compare(a.ID, b.ID) > 0
}

// otherCluster says whether a Node is labelled for a MesosCluster other than mc's, and
// if so says it: such a Node is never taken over. Two clusters may map agents to one
// Node name (cluster "a" with host "b-c" and cluster "a-b" with host "c" both make
// mesos-a-b-c), and each would write its own agent into the Node and renew its Lease.
func (r *AgentNodeReconciler) otherCluster(ctx context.Context, mc *mesosv1alpha1.MesosCluster, node *corev1.Node, a agentnode.Agent) bool {
	owner, ok := node.Labels[agentnode.LabelCluster]
	if !ok || owner == mc.Name {
		return false
	}
	if _, told := r.takenTold.LoadOrStore(node.Name+"\x00"+owner+"\x00"+mc.Name, true); told {
		return true // said once (each pass would say it again, every few seconds)
	}
	ctrl.LoggerFrom(ctx).Info("Leaving alone the Node of another MesosCluster that an agent's Node name maps to", "node", node.Name, "owner", owner, "agent", a.ID, "hostname", a.Hostname)
	if r.Recorder != nil {
		r.Recorder.Eventf(mc, nil, corev1.EventTypeWarning, ReasonNodeNameTaken, "WriteNode",
			"Agent %s (%s) maps to Node %s, which belongs to MesosCluster %s: the agent has no Node while that one exists (rename one of the clusters)",
			a.ID, a.Hostname, node.Name, owner)
	}
	return true
}
