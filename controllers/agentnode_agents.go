package controllers

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// ReasonNodeNameTaken is the reason of the Warning event on a MesosCluster whose agent's
// Node name is held by a Node not its own: another MesosCluster's, or a kubelet's.
const ReasonNodeNameTaken = "NodeNameTaken"

// ReasonUnlabeled is the reason of the Warning event on an agent's Node when part of the
// agent (an attribute, its zone or region, its hostname) is no valid label name or value,
// so that the Node has no label for it (agentnode.Unlabeled).
const ReasonUnlabeled = "AgentUnlabeled"

// liveAgents are the agents whose Nodes a pass writes, one per Node name. An agent that
// restarted with a new id on the same host and port is known under both ids until the
// master's list drops the old one, and two writes of one Node would each put back their
// own agent's id and capacity, each write waking another pass. The agent the master
// takes for active wins, then the one that offered last, then the greater id, so that
// every pass picks the same. heard is what the agents' executors said lately of the
// kubelet API they serve (Scheduler.KubeletAPIHeard). An agent known from before the
// subscription is left out where the master has not listed its agents for it
// (unheardSince), and so is one known only from its offers whose Node exists (in
// nodes) while the master's list is on its way (listPending).
func liveAgents(mc *mesosv1alpha1.MesosCluster, status framework.Status, heard map[string]int32, nodes map[string]bool, now time.Time) []agentnode.Agent {
	best := make(map[string]framework.Agent, len(status.Agents))
	pending := listPending(status, now)
	for _, a := range status.Agents {
		if unheardSince(status, a, now) {
			continue
		}
		name := agentnode.NodeName(mc.Name, a.Hostname, a.Port)
		if pending && len(a.Total) == 0 && nodes[name] {
			continue // kept as it is until the list comes (nodesToKeep)
		}
		if b, ok := best[name]; !ok || preferAgent(a, b) {
			best[name] = a
		}
	}
	agents := make([]agentnode.Agent, 0, len(best))
	for _, a := range best {
		region, zone := agentnode.FaultDomain(a.Domain)
		agents = append(agents, agentnode.Agent{ID: a.ID, Hostname: a.Hostname, Port: a.Port, IP: a.IP, Attributes: a.Attributes, Region: region, Zone: zone,
			Resources: a.Capacity, Allocatable: a.Allocatable, KubeletAPI: kubeletAPI(mc, status, heard, a.ID, now),
			WithoutGPUCapability: !mc.Spec.Framework.AsksForGPUs(), Offered: !a.LastOffer.IsZero() || status.Reported[a.ID],
			Unavailability: a.Unavailability})
	}
	return agents
}

// listPending says whether the master is yet to list its agents for the current
// subscription, within unlistedAgentsGrace, and has not refused to. Until then an agent
// the driver knows only from its offers (a new driver, after a start or a new leader,
// knows nothing else) has a capacity of what it offered, what its tasks leave free: its
// Node, written from that, went down to it and back up once the list came, at 1,000
// agents 600 Node writes while the new leader's tasks were being reconciled.
func listPending(status framework.Status, now time.Time) bool {
	return status.Subscribed && !status.AgentsListed && status.AgentsError == nil && now.Sub(status.SubscribedAt) < unlistedAgentsGrace
}

// unheardSince says whether an agent the driver knows from before the current
// subscription (its offers, or a list of an earlier one) is no longer taken for live:
// the master has not listed its agents for this subscription, unlistedAgentsGrace has
// passed, and the agent neither offered since nor did Mesos show it registered
// (status.Reported). Mesos tells no FAILURE of an agent removed, or found unreachable,
// while the framework is away, and without the list its Node would stay Ready, its
// Lease renewed, for as long as the driver runs. It is then held to what a Node whose
// agent the driver does not know is (nodesToKeep).
func unheardSince(status framework.Status, a framework.Agent, now time.Time) bool {
	return status.Subscribed && !status.AgentsListed && now.Sub(status.SubscribedAt) >= unlistedAgentsGrace &&
		a.LastOffer.Before(status.SubscribedAt) && !status.Reported[a.ID]
}

// kubeletAPI is what an agent's executors serve of the kubelet API, for its Node to
// advertise: the port while one says it serves it. An agent none of whose executors
// said Hello lately is not known yet while the subscription is younger than the time
// in which a running executor says one (scheduler.KubeletAPIHeardFor): the manager, or
// its master, may just be back, and the executors have not been heard since.
func kubeletAPI(mc *mesosv1alpha1.MesosCluster, status framework.Status, heard map[string]int32, agentID string, now time.Time) agentnode.KubeletAPI {
	k := agentnode.KubeletAPI{Port: mc.Spec.KubeletAPIPort()}
	port, ok := heard[agentID]
	switch {
	case ok:
		k.Served = port != 0 && port == k.Port
	default:
		k.Unknown = now.Sub(status.SubscribedAt) < scheduler.KubeletAPIHeardFor
	}
	return k
}

// kubeletAPIHeard is what the cluster's executors said lately of the kubelet API they
// serve, by agent (Scheduler.KubeletAPIHeard); nil before the cluster has a scheduler.
func (r *AgentNodeReconciler) kubeletAPIHeard(cluster string) map[string]int32 {
	if r.heard != nil {
		return r.heard(cluster)
	}
	if r.Registry == nil {
		return nil
	}
	if s := r.Registry.Scheduler(cluster); s != nil {
		return s.KubeletAPIHeard()
	}
	return nil
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

// otherCluster says whether a Node is not mc's, and if so says it: such a Node is never
// taken over. Two clusters may map agents to one Node name (cluster "a" with host "b-c"
// and cluster "a-b" with host "c" both make mesos-a-b-c), and each would write its own
// agent into the Node and renew its Lease. A Node of the name that is no cluster's
// (agentnode.ClusterOfNode: no cluster label, and no MesosCluster made it) is a
// kubelet's, a host named so that joined the Kubernetes cluster: taken over, it would be
// tainted, its status overwritten and its Lease renewed by the manager.
func (r *AgentNodeReconciler) otherCluster(ctx context.Context, mc *mesosv1alpha1.MesosCluster, node *corev1.Node, a agentnode.Agent) bool {
	owner := agentnode.ClusterOfNode(node)
	if owner == mc.Name {
		return false
	}
	if _, told := r.takenTold.LoadOrStore(node.Name+"\x00"+owner+"\x00"+mc.Name, true); told {
		return true // said once (each pass would say it again, every few seconds)
	}
	if owner == "" {
		ctrl.LoggerFrom(ctx).Info("Leaving alone a Node that is no agent's, which an agent's Node name maps to", "node", node.Name, "agent", a.ID, "hostname", a.Hostname)
		r.warnNodeTaken(mc, "Agent %s (%s) maps to Node %s, which is not an agent's (no %s label, and no MesosCluster made it: a kubelet's Node): "+
			"the agent has no Node while that one exists (rename the host, or the cluster)", a.ID, a.Hostname, node.Name, agentnode.LabelCluster)
		return true
	}
	ctrl.LoggerFrom(ctx).Info("Leaving alone the Node of another MesosCluster that an agent's Node name maps to", "node", node.Name, "owner", owner, "agent", a.ID, "hostname", a.Hostname)
	r.warnNodeTaken(mc, "Agent %s (%s) maps to Node %s, which belongs to MesosCluster %s: the agent has no Node while that one exists (rename one of the clusters)",
		a.ID, a.Hostname, node.Name, owner)
	return true
}

// warnNodeTaken records on the cluster that an agent's Node name is held by a Node not its own.
func (r *AgentNodeReconciler) warnNodeTaken(mc *mesosv1alpha1.MesosCluster, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(mc, nil, corev1.EventTypeWarning, ReasonNodeNameTaken, "WriteNode", format, args...)
	}
}

// warnUnlabeled tells, on an agent's Node, what of the agent its labels leave out: Mesos
// allows attribute names and values, zones and regions that no label can hold, and a
// pod selecting them would wait with "node selector mismatch" and no more said. Each
// Node is told once per process, and again when what is left out changes.
func (r *AgentNodeReconciler) warnUnlabeled(node *corev1.Node, a agentnode.Agent) {
	left := agentnode.Unlabeled(a)
	if len(left) == 0 {
		r.unlabeledTold.Delete(node.Name)
		return
	}
	said := strings.Join(left, ", ")
	if before, ok := r.unlabeledTold.Swap(node.Name, said); ok && before == said {
		return
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(node, nil, corev1.EventTypeWarning, ReasonUnlabeled, "LabelNode",
			"Agent %s (%s) has what no Node label can hold, so no node selector, affinity or topology key matches it: %s "+
				"(a label value is at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit)", a.ID, a.Hostname, said)
	}
}
