package process

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// spec.activeDeadlineSeconds, as the kubelet enforces it (its active deadline handler):
// counted from the pod's start, a pod still running then is stopped as a killed one is,
// its containers with the pod's grace period, and ends Failed with reason
// DeadlineExceeded rather than killed.

// ReasonDeadlineExceeded and deadlineMessage are a pod's reason and message when it ran
// past its activeDeadlineSeconds, in the kubelet's words.
const (
	ReasonDeadlineExceeded = "DeadlineExceeded"
	deadlineMessage        = "Pod was active on the node longer than the specified deadline"
)

// enforceDeadline arms the pod's active deadline, if it has one; under p.mu or before
// the pod runs.
func (p *pod) enforceDeadline() {
	secs := p.pod.Spec.ActiveDeadlineSeconds
	if secs == nil {
		return
	}
	left := time.Until(p.started.Add(time.Duration(*secs) * time.Second))
	p.deadline = time.AfterFunc(left, p.deadlineExceeded)
}

// deadlineExceeded stops a pod that ran past its deadline, unless it ended or was
// killed meanwhile.
func (p *pod) deadlineExceeded() {
	p.rt.Log.V(1).Info("The pod's activeDeadlineSeconds is over", "pod", p.name())
	p.stop(p.grace(nil), true)
}

// disarmDeadline stops the pod's deadline as it ends; under p.mu.
func (p *pod) disarmDeadline() {
	if p.deadline != nil {
		p.deadline.Stop()
	}
}

// pastDeadlineLocked makes st, the status of a pod stopped past its deadline, Failed
// with the kubelet's reason and message, which it returns; under p.mu.
func pastDeadlineLocked(st *corev1.PodStatus) string {
	st.Phase, st.Reason, st.Message = corev1.PodFailed, ReasonDeadlineExceeded, deadlineMessage
	return deadlineMessage
}
