package podtask

import (
	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// ReasonTerminationByMesos is the reason of a pod's DisruptionTarget condition when
// Mesos, not the pod, ended its task: its agent went, restarted, drained or was removed,
// its container was preempted, or its framework was removed. Kubernetes's own reasons
// name who ended the pod (TerminationByKubelet, DeletionByPodGC, ...); here it is Mesos.
const ReasonTerminationByMesos = "TerminationByMesos"

// disruptionReasons are the Mesos reasons of a failed or killed task that say Mesos, not
// the task, ended it (mesos.proto TaskStatus.Reason): what a kubelet's node shutdown,
// node-pressure eviction or the pod garbage collector would be in Kubernetes.
var disruptionReasons = map[string]bool{
	"REASON_AGENT_DISCONNECTED":        true,
	"REASON_AGENT_DRAINING":            true,
	"REASON_AGENT_REMOVED":             true,
	"REASON_AGENT_REMOVED_BY_OPERATOR": true,
	"REASON_AGENT_REREGISTERED":        true,
	"REASON_AGENT_RESTARTED":           true,
	"REASON_AGENT_UNKNOWN":             true,
	"REASON_CONTAINER_PREEMPTED":       true,
	// The executor did not register again in time after its agent restarted.
	"REASON_EXECUTOR_REREGISTRATION_TIMEOUT": true,
	"REASON_FRAMEWORK_REMOVED":               true,
	"REASON_MASTER_DISCONNECTED":             true,
}

// Disrupted says whether a task ended by Mesos's doing rather than its pod's, and so
// whether its pod, failed for it, is a disruption: a task gone (its agent gone or
// unknown, marked gone by an operator, or its framework removed), failed or killed for
// one of disruptionReasons, or killed without a reason. k8sm kills the task of a pod only
// once the pod was deleted or ended, or of one whose record it lost; so a kill without a
// reason is the executor stopping its tasks as it is shut down (its agent stopping, say),
// as a kubelet's node shutdown ends pods (TerminationByKubelet), and a pod whose deletion
// was asked ended for that.
func Disrupted(pod *corev1.Pod, st *mesosv1alpha1.MesosTaskStatus) bool {
	if !pod.DeletionTimestamp.IsZero() {
		return false
	}
	switch st.Phase {
	case mesosv1alpha1.TaskPhaseGone:
		return true
	case mesosv1alpha1.TaskPhaseKilled:
		return st.Reason == "" || disruptionReasons[st.Reason]
	case mesosv1alpha1.TaskPhaseFailed:
		return disruptionReasons[st.Reason]
	}
	return false
}

// markDisrupted gives a failed pod's status the DisruptionTarget condition, as
// Kubernetes's controllers and kubelet mark a pod they end for a disruption (its node
// gone, shut down or out of resources) rather than for what the pod did: a Job's
// podFailurePolicy can then leave such failures out of its backoffLimit
// (onPodConditions: DisruptionTarget).
func markDisrupted(s *corev1.PodStatus, msg string) {
	SetPodCondition(s, corev1.DisruptionTarget, corev1.ConditionTrue, ReasonTerminationByMesos, Clamp(msg, MaxMessageLength))
}

// disruptionMessage says what Mesos reported of a task it ended.
func disruptionMessage(st *mesosv1alpha1.MesosTaskStatus) string {
	if EndedWithoutMesos(st) {
		// Mesos reported nothing of the task: its last state is from before.
		return st.Message
	}
	msg := "Mesos ended the task"
	if st.MesosState != "" {
		msg += " (" + st.MesosState
		if st.Reason != "" {
			msg += ", " + st.Reason
		}
		msg += ")"
	}
	if st.Message != "" {
		msg += ": " + st.Message
	}
	return msg
}
