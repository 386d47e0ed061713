package podtask

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// ReasonFrameworkRemoved is the reason of a task, and of its pod, that ended because
// Mesos removed its framework: a Mesos operator tore it down, or its failover timeout
// passed while no manager was subscribed. Mesos then kills every task of the framework
// (Master::removeFramework) and reports it to no one: the framework can never subscribe
// again.
const ReasonFrameworkRemoved = "FrameworkRemoved"

// FrameworkRemovedMessage says why the tasks of a removed framework ended, and what to
// do.
func FrameworkRemovedMessage(frameworkID string) string {
	return fmt.Sprintf("Mesos removed framework %s (a Mesos operator tore it down, or its failover timeout passed while no manager was subscribed) "+
		"and killed its tasks; delete the MesosCluster and create it again to run pods on Mesos", frameworkID)
}

// EndedWithFramework is the status of a task whose framework Mesos removed: Gone, its
// pod Failed, with ReasonFrameworkRemoved and why, at now. The last state Mesos reported
// stays as it was: Mesos tells the framework nothing of the tasks it kills with it.
func EndedWithFramework(st mesosv1alpha1.MesosTaskStatus, frameworkID string, now metav1.Time) mesosv1alpha1.MesosTaskStatus {
	return endedWithout(st, ReasonFrameworkRemoved, FrameworkRemovedMessage(frameworkID), now)
}

// endedWithout is a task's status st ended Gone by the operator, Mesos having said
// nothing of it: its pod Failed with reason and message, at now; the last state Mesos
// reported kept.
func endedWithout(st mesosv1alpha1.MesosTaskStatus, reason, message string, now metav1.Time) mesosv1alpha1.MesosTaskStatus {
	out := *st.DeepCopy()
	out.Phase, out.PodPhase = mesosv1alpha1.TaskPhaseGone, corev1.PodFailed
	out.Reason, out.Message, out.Source = reason, Clamp(message, MaxMessageLength), ""
	out.Healthy = nil
	if out.FinishedAt == nil {
		out.FinishedAt = now.DeepCopy()
	}
	out.LastUpdateTime = now.DeepCopy()
	return out
}

// EndedWithFrameworkStatus says whether a task's status is that of a task ended with
// its framework's removal (EndedWithFramework).
func EndedWithFrameworkStatus(st *mesosv1alpha1.MesosTaskStatus) bool {
	return st.Phase == mesosv1alpha1.TaskPhaseGone && st.Reason == ReasonFrameworkRemoved
}
