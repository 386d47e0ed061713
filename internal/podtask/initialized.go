package podtask

import (
	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A kubelet's reasons for Initialized (k8s.io/kubernetes pkg/kubelet/status/generate.go).
const (
	ReasonContainersNotInitialized = "ContainersNotInitialized"
	ReasonUnknownContainerStatuses = "UnknownContainerStatuses"
)

// setInitialized sets a launched pod's Initialized as a kubelet does
// (GeneratePodInitializedCondition), from its spec and container statuses: True without
// init containers, or once each is done (a regular one exited 0, a sidecar started) or a
// main container started (PodCompleted once the pod succeeded); else False,
// ContainersNotInitialized, naming those not done. Where nothing is known of its
// containers (no word from the executor yet, or the master's updates alone), a running
// task's pod is initialized (the executor reports RUNNING only once its init containers
// are done), a starting one's is not (UnknownContainerStatuses), and one that ended or
// is unreachable keeps what it said. It first marks ready the regular init containers
// that exited 0, as a kubelet's prober does.
func setInitialized(pod *corev1.Pod, out *corev1.PodStatus, phase mesosv1alpha1.TaskPhase) {
	markInitDone(pod, out)
	if len(pod.Spec.InitContainers) > 0 && len(out.InitContainerStatuses) == 0 && len(out.ContainerStatuses) == 0 {
		switch had := podCondition(out, corev1.PodInitialized); {
		case phase == mesosv1alpha1.TaskPhaseRunning, phase == mesosv1alpha1.TaskPhaseKilling:
			SetPodCondition(out, corev1.PodInitialized, corev1.ConditionTrue, "", "")
		case had != nil && phase != mesosv1alpha1.TaskPhaseStaging && phase != mesosv1alpha1.TaskPhaseStarting:
		default:
			SetPodCondition(out, corev1.PodInitialized, corev1.ConditionFalse, ReasonUnknownContainerStatuses, "")
		}
		return
	}
	var unknown, incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := statusOf(out.InitContainerStatuses, c.Name)
		switch {
		case cs == nil:
			unknown = append(unknown, c.Name)
		case isSidecar(c) && (cs.Started == nil || !*cs.Started), !isSidecar(c) && !cs.Ready:
			incomplete = append(incomplete, c.Name)
		}
	}
	switch {
	case out.Phase == corev1.PodSucceeded && len(unknown) == 0:
		SetPodCondition(out, corev1.PodInitialized, corev1.ConditionTrue, ReasonPodCompleted, "")
	case mainStarted(pod, out), len(unknown)+len(incomplete) == 0:
		SetPodCondition(out, corev1.PodInitialized, corev1.ConditionTrue, "", "")
	default:
		SetPodCondition(out, corev1.PodInitialized, corev1.ConditionFalse, ReasonContainersNotInitialized,
			containersMessage(unknown, "incomplete", incomplete))
	}
}

// markInitDone marks ready each regular init container that exited 0, as a kubelet's
// prober does (its UpdatePodStatus), whatever the executor said.
func markInitDone(pod *corev1.Pod, out *corev1.PodStatus) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if cs := statusOf(out.InitContainerStatuses, c.Name); cs != nil && !isSidecar(c) &&
			cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			cs.Ready = true
		}
	}
}

// mainStarted says whether a main container of the pod runs or ran (the kubelet's
// HasAnyRegularContainerStarted).
func mainStarted(pod *corev1.Pod, out *corev1.PodStatus) bool {
	for i := range pod.Spec.Containers {
		if cs := statusOf(out.ContainerStatuses, pod.Spec.Containers[i].Name); cs != nil && (cs.State.Running != nil || cs.State.Terminated != nil) {
			return true
		}
	}
	return false
}

// statusOf is the status of the container of that name, or nil.
func statusOf(cs []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}
