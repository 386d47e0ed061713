package agentnode

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReasonFrameworkRemoved is the Node Ready condition's reason once Mesos removed the
// cluster's framework.
const ReasonFrameworkRemoved = "MesosFrameworkRemoved"

// FrameworkRemoved is the Ready condition of an agent's Node once Mesos removed the
// cluster's framework (a Mesos operator tore it down, or its failover timeout passed
// while no manager was subscribed): Unknown, as for an agent that left (nothing renews
// the Node's Lease any more), with words that send people to the MesosCluster rather
// than to the agent. Mesos killed the framework's tasks there, and runs none for it
// again: only a MesosCluster made anew, with a new framework, does.
func FrameworkRemoved(frameworkID string, now metav1.Time, previous []corev1.NodeCondition) corev1.NodeCondition {
	cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: ReasonFrameworkRemoved,
		Message: "Mesos removed framework " + frameworkID + " (a Mesos operator tore it down, or its failover timeout passed while no manager was subscribed) " +
			"and killed its tasks on this agent; delete the MesosCluster and create it again to run pods here",
		LastHeartbeatTime: now, LastTransitionTime: now}
	keepTransition(&cond, previous)
	return cond
}
