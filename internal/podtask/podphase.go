package podtask

// The pod phase a MesosTask shows (status.podPhase): the one its task's state gives the
// pod, and, once the pod ended, the one it ended with.

import (
	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// PodPhaseFor is the pod phase a task phase implies, after previous: Unreachable keeps
// the previous one, and so does a pod that ended (Succeeded or Failed), as the pod itself
// does whatever its task reports after (PodStatusFor): a pod Failed with NodeLost while
// its agent was unreachable stays Failed when the task comes back with the agent.
func PodPhaseFor(p mesosv1alpha1.TaskPhase, previous corev1.PodPhase) corev1.PodPhase {
	if previous == corev1.PodSucceeded || previous == corev1.PodFailed {
		return previous
	}
	switch p {
	case mesosv1alpha1.TaskPhaseRunning, mesosv1alpha1.TaskPhaseKilling:
		return corev1.PodRunning
	case mesosv1alpha1.TaskPhaseFinished:
		return corev1.PodSucceeded
	case mesosv1alpha1.TaskPhaseFailed, mesosv1alpha1.TaskPhaseKilled, mesosv1alpha1.TaskPhaseGone:
		return corev1.PodFailed
	case mesosv1alpha1.TaskPhaseUnreachable:
		if previous != "" {
			return previous
		}
	}
	return corev1.PodPending
}

// MirrorEndedPod gives a MesosTask's status the phase of its pod once the pod ended, as
// podPhase says what the pod shows: a pod can end apart from its task (Failed with
// NodeLost while its agent was unreachable, a deleted pod Succeeded as its containers
// exited 0 while they were stopped), and keeps that phase (PodPhaseFor). It says whether
// that changed st.
func MirrorEndedPod(st *mesosv1alpha1.MesosTaskStatus, pod *corev1.Pod) bool {
	if !PodTerminal(pod) || st.PodPhase == pod.Status.Phase {
		return false
	}
	st.PodPhase = pod.Status.Phase
	return true
}

// MirrorStoppedPod gives the MesosTask of a deleted pod whose task was killed the phase
// the pod ends with (PodStatusFor, with the executor's data of the kill's update):
// Succeeded where every container exited 0 as it was stopped, as a kubelet ends such a
// pod, not the Failed of a kill (PodPhaseFor). It says whether that changed st.
func MirrorStoppedPod(st *mesosv1alpha1.MesosTaskStatus, pod *corev1.Pod, data []byte) bool {
	if st.Phase != mesosv1alpha1.TaskPhaseKilled || pod.DeletionTimestamp.IsZero() || PodTerminal(pod) {
		return false
	}
	phase := PodStatusFor(pod, st, data).Phase
	if phase == st.PodPhase {
		return false
	}
	st.PodPhase = phase
	return true
}
