package controllers

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// maintenanceTaintWrong says whether an agent's Node has the maintenance taint while
// its machine is not scheduled for maintenance, or lacks it while it is.
func maintenanceTaintWrong(node *corev1.Node, a agentnode.Agent) bool {
	return hasTaint(node.Spec.Taints, agentnode.MaintenanceTaint()) != (a.Unavailability != nil)
}

// setMaintenanceTaint gives an agent's Node the maintenance taint while its machine is
// scheduled for maintenance, and takes it off otherwise; the Node's other taints stay.
func setMaintenanceTaint(node *corev1.Node, a agentnode.Agent) {
	if !maintenanceTaintWrong(node, a) {
		return
	}
	t := agentnode.MaintenanceTaint()
	kept := node.Spec.Taints[:0:0]
	for _, x := range node.Spec.Taints {
		if x.Key != t.Key || x.Effect != t.Effect {
			kept = append(kept, x)
		}
	}
	if a.Unavailability != nil {
		kept = append(kept, t)
	}
	node.Spec.Taints = kept
}
