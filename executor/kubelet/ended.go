package kubelet

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stopped says whether the kubelet runs nothing more of a pod it shows ended (phase
// Succeeded or Failed). The kubelet fails a pod whose activeDeadlineSeconds passed, or
// that it evicts, before it kills the pod's containers with their grace period
// (generateAPIPodStatus in pkg/kubelet/kubelet_pods.go sets the phase, the pod worker
// kills next): a terminal update then would have Mesos offer the resources of
// containers that still run, and of a sandbox that still holds the pod's hostPorts. So
// the pod has ended for the follower once the kubelet's statuses show no container
// running and its container runtime runs none of the pod (mayRun; where /runningpods/
// is not served, the statuses alone), or, whatever the kubelet is doing, once the pod's
// grace period and killMargin passed since it ended.
func (f *follower) stopped(kp *corev1.Pod) bool {
	now := time.Now()
	if f.endedAt.IsZero() {
		f.endedAt = now
	}
	if now.After(f.endedAt.Add(f.grace() + killMargin)) {
		f.rt.Log.Info("The kubelet has not stopped the ended pod within its grace period; reporting it ended", "podUID", f.uid, "phase", kp.Status.Phase)
		return true
	}
	if anyRunning(&kp.Status) {
		return false
	}
	runs, err := f.mayRun(lastStart(&kp.Status, f.endedAt))
	switch {
	case notServed(err):
		return true
	case err != nil:
		f.rt.Log.V(1).Info("Cannot ask the kubelet which pods it runs; asking again", "podUID", f.uid, "error", err.Error())
		return false
	}
	return !runs
}

// endingStatus is the status reported for a pod the kubelet shows ended (st) while it
// still stops the pod's containers: the kubelet's, in the phase last reported (phase;
// Pending if none), for a terminal phase would have Mesos take the pod's resources for
// free (stopped); and not ready, as the kubelet itself has a pod it ended, so that the
// pod leaves its Services' endpoints at once rather than when its containers are gone.
// The executor reports it TASK_RUNNING (or TASK_STARTING, or TASK_KILLING when a KILL
// came) with Ready False. A condition it turns False says it did so at since, when the
// pod was first seen ended: the same kubelet status makes the same report.
func endingStatus(st corev1.PodStatus, phase corev1.PodPhase, since time.Time) corev1.PodStatus {
	ending := *st.DeepCopy()
	ended := ending.Phase
	ending.Phase = phase
	if ending.Phase == "" {
		ending.Phase = corev1.PodPending
	}
	reason := "PodFailed" // the kubelet's words for a pod it ended (pkg/kubelet/status/generate.go)
	if ended == corev1.PodSucceeded {
		reason = "PodCompleted"
	}
	for _, t := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
		setNotReady(&ending, t, reason, metav1.NewTime(since))
	}
	return ending
}

// setNotReady makes a status's condition t False, for reason at since, unless it was
// False already.
func setNotReady(st *corev1.PodStatus, t corev1.PodConditionType, reason string, since metav1.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != corev1.ConditionFalse {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, ""
			c.LastTransitionTime = since
		}
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, LastTransitionTime: since})
}

// grace is the pod's terminationGracePeriodSeconds, as the manifest has it.
func (f *follower) grace() time.Duration {
	if g := f.static.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// anyRunning says whether a pod status shows a container running.
func anyRunning(st *corev1.PodStatus) bool {
	for _, cs := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses, st.EphemeralContainerStatuses} {
		for i := range cs {
			if cs[i].State.Running != nil {
				return true
			}
		}
	}
	return false
}

// lastStart is when the pod last started a container, by its statuses, or else; the
// pod's sandbox ran then. The kubelet's times are whole seconds: a second is added.
func lastStart(st *corev1.PodStatus, orElse time.Time) time.Time {
	var last time.Time
	for _, cs := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses, st.EphemeralContainerStatuses} {
		for i := range cs {
			s := cs[i].State
			switch {
			case s.Running != nil && s.Running.StartedAt.After(last):
				last = s.Running.StartedAt.Time
			case s.Terminated != nil && s.Terminated.StartedAt.After(last):
				last = s.Terminated.StartedAt.Time
			}
		}
	}
	if last.IsZero() {
		return orElse
	}
	return last.Add(time.Second)
}
