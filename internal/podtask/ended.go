package podtask

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// endContainers ends the container statuses of a pod whose task ended as a kubelet's
// status manager does when the pod ends (TerminatePod): none is ready (but an init
// container that completed, as a kubelet's prober has it), and one not said
// to have ended (the task ended without the executor's word: its agent went, or the
// master answered for it) is terminated as a container the kubelet cannot find, exit
// code 137, reason ContainerStatusUnknown: once the pod has initialized, every container
// (running, or waiting to start or restart), and of the init containers those that tried
// to start (all but the trailing ones still waiting to start, at least the first). A
// container that never started in a pod that never initialized stays waiting.
func endContainers(out *corev1.PodStatus) {
	for i := range out.InitContainerStatuses {
		// An init container that completed stays ready, as a kubelet's (markInitDone).
		c := &out.InitContainerStatuses[i]
		c.Ready = c.Ready && c.State.Terminated != nil && c.State.Terminated.ExitCode == 0
	}
	for i := range out.ContainerStatuses {
		out.ContainerStatuses[i].Ready = false
	}
	for i := range triedToStart(out.InitContainerStatuses) {
		endContainer(&out.InitContainerStatuses[i])
	}
	if initialized(out) {
		for i := range out.ContainerStatuses {
			endContainer(&out.ContainerStatuses[i])
		}
	}
}

// endContainer terminates a container not said to have ended, as the kubelet does one
// it cannot find when its pod ends.
func endContainer(c *corev1.ContainerStatus) {
	if c.State.Terminated != nil {
		return
	}
	var started metav1.Time
	if r := c.State.Running; r != nil {
		started = r.StartedAt
		c.Started = ptr(false)
	}
	c.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: ReasonContainerStatusUnknown,
		Message: "The container could not be located when the pod was terminated", ExitCode: 137, StartedAt: started}}
}

// initialized says whether a pod's status shows it initialized, as the kubelet's
// hasPodInitialized: no init containers, a container that left waiting or ran before, or
// the last init container done. (The kubelet also takes a last init container that is a
// sidecar and started, which a status alone cannot tell from one still initializing.)
func initialized(s *corev1.PodStatus) bool {
	if len(s.InitContainerStatuses) == 0 {
		return true
	}
	for _, c := range s.ContainerStatuses {
		if c.State.Waiting == nil || c.LastTerminationState.Terminated != nil {
			return true
		}
	}
	last := s.InitContainerStatuses[len(s.InitContainerStatuses)-1]
	for _, t := range []*corev1.ContainerStateTerminated{last.State.Terminated, last.LastTerminationState.Terminated} {
		if t != nil && t.ExitCode == 0 {
			return true
		}
	}
	return false
}

// triedToStart is the kubelet's initializedContainers: the statuses but the trailing ones
// waiting to start that never ran, and at least the first.
func triedToStart(cs []corev1.ContainerStatus) []corev1.ContainerStatus {
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].State.Waiting == nil || cs[i].LastTerminationState.Terminated != nil {
			return cs[:i+1]
		}
	}
	return cs[:min(len(cs), 1)]
}
