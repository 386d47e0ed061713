package podtask

import (
	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// WrittenGeneration is the generation a MesosTask has once the write of its status now
// lands. MesosTasks have no status subresource (so that a task's first write carries its
// state), so each write that changes the status counts as a generation, as any change
// to a custom resource without one does; a new MesosTask is generation 1. Every write
// of a MesosTask is optimistic (it carries the version read), so the count is exact.
func WrittenGeneration(mt *mesosv1alpha1.MesosTask) int64 {
	if mt.ResourceVersion == "" {
		return 1
	}
	return mt.Generation + 1
}

// StampGeneration marks a MesosTask's status and conditions as written for the
// generation its write makes (WrittenGeneration): a reader comparing observedGeneration
// with metadata.generation then finds the status current.
func StampGeneration(mt *mesosv1alpha1.MesosTask) {
	gen := WrittenGeneration(mt)
	mt.Status.ObservedGeneration = gen
	for i := range mt.Status.Conditions {
		mt.Status.Conditions[i].ObservedGeneration = gen
	}
}

// ObserveGeneration marks a pod status k8sm writes as its kubelet as reflecting the pod's
// spec of now, as kubelets do since Kubernetes 1.35 (PodObservedGenerationTracking, GA):
// status.observedGeneration, and that of the conditions a kubelet or kube-scheduler
// writes (PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady, Ready),
// are the pod's generation. Conditions other controllers own (readiness gates,
// DisruptionTarget) are left as they set them. It says whether it changed s.
func ObserveGeneration(pod *corev1.Pod, s *corev1.PodStatus) bool {
	changed := false
	if s.ObservedGeneration < pod.Generation {
		s.ObservedGeneration, changed = pod.Generation, true
	}
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if ownCondition(c.Type) && c.ObservedGeneration != pod.Generation {
			c.ObservedGeneration, changed = pod.Generation, true
		}
	}
	return changed
}

// SpecChangedSinceStatus says whether a pod's spec changed since k8sm last wrote its
// status: a status written once (observedGeneration set) for an earlier generation. A
// status k8sm has not written yet (the binding's) is left to the task's next update,
// which writes it anyway: writing it only for its generation would be one more write per
// pod, and race with that update's.
func SpecChangedSinceStatus(pod *corev1.Pod) bool {
	return pod.Status.ObservedGeneration != 0 && pod.Status.ObservedGeneration < pod.Generation
}

// ownCondition says whether k8sm, as a pod's kubelet and scheduler, owns a condition.
func ownCondition(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodScheduled, corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		return true
	}
	return false
}
