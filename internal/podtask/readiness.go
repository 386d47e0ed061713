package podtask

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// The reasons a kubelet gives ContainersReady and Ready when they are False
// (k8s.io/kubernetes pkg/kubelet/status/generate.go), which k8sm gives them too.
const (
	ReasonContainersNotReady     = "ContainersNotReady"
	ReasonReadinessGatesNotReady = "ReadinessGatesNotReady"
	ReasonPodCompleted           = "PodCompleted"
	ReasonPodFailed              = "PodFailed"
	// ReasonPodSandboxNotReady is a kubelet's reason for PodReadyToStartContainers False
	// (k8s.io/kubernetes pkg/kubelet/types/constants.go), with the messages below.
	ReasonPodSandboxNotReady = "PodSandboxNotReady"
	msgNoPodSandbox          = "no pod sandbox exists"
	msgPodSandboxNotReady    = "pod sandbox is not ready"
)

// setReadyToStart sets a launched pod's PodReadyToStartContainers as a kubelet does
// (GeneratePodReadyToStartContainersCondition, GA since Kubernetes 1.37): True once its
// sandbox is made, which here is once the executor started the pod (it reports its
// containers, or the task runs), False before that and once the task ended (its sandbox
// stopped). An executor that reports the condition (the kubelet runtime's kubelet) is
// taken at its word; a pod whose agent is unreachable keeps what it said.
func setReadyToStart(out *corev1.PodStatus, phase mesosv1alpha1.TaskPhase, from *corev1.PodStatus) {
	had := podCondition(out, corev1.PodReadyToStartContainers)
	var own *corev1.PodCondition
	if from != nil {
		own = podCondition(from, corev1.PodReadyToStartContainers)
	}
	switch {
	case phase == mesosv1alpha1.TaskPhaseUnreachable:
	case IsTerminalPhase(phase):
		SetPodCondition(out, corev1.PodReadyToStartContainers, corev1.ConditionFalse, ReasonPodSandboxNotReady, msgPodSandboxNotReady)
	case own != nil:
		SetPodCondition(out, corev1.PodReadyToStartContainers, own.Status, own.Reason, own.Message)
	case phase == mesosv1alpha1.TaskPhaseRunning, phase == mesosv1alpha1.TaskPhaseKilling,
		from != nil && (len(from.ContainerStatuses) > 0 || len(from.InitContainerStatuses) > 0),
		had != nil && had.Status == corev1.ConditionTrue:
		SetPodCondition(out, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "")
	default:
		SetPodCondition(out, corev1.PodReadyToStartContainers, corev1.ConditionFalse, ReasonPodSandboxNotReady, msgNoPodSandbox)
	}
}

// setReadiness sets a pod status's ContainersReady and Ready as a kubelet does
// (GenerateContainersReadyCondition, GeneratePodReadyCondition): containersReady is
// whether its containers are ready; reason, when not empty, is k8sm's own for them not
// being so (an unreachable agent). A pod that ended says PodCompleted or PodFailed; one
// whose containers are not all ready names them (ContainersNotReady); and Ready is also
// False, ReadinessGatesNotReady, while a condition of spec.readinessGates is not True,
// whoever sets those (a load balancer's controller, say: see GatedReadiness).
func setReadiness(pod *corev1.Pod, out *corev1.PodStatus, containersReady corev1.ConditionStatus, reason string) {
	msg := ""
	switch {
	case out.Phase == corev1.PodSucceeded:
		containersReady, reason = corev1.ConditionFalse, ReasonPodCompleted
	case out.Phase == corev1.PodFailed:
		containersReady, reason = corev1.ConditionFalse, ReasonPodFailed
	case containersReady != corev1.ConditionTrue && reason == "":
		reason, msg = ReasonContainersNotReady, unreadyMessage(pod, out)
	}
	SetPodCondition(out, corev1.ContainersReady, containersReady, reason, msg)
	if containersReady == corev1.ConditionTrue {
		if gates := unmetGates(pod, out); gates != "" {
			SetPodCondition(out, corev1.PodReady, corev1.ConditionFalse, ReasonReadinessGatesNotReady, gates)
			return
		}
	}
	SetPodCondition(out, corev1.PodReady, containersReady, reason, msg)
}

// unreadyMessage names the containers (sidecars included) that are not ready, or of
// which nothing is known, in the kubelet's words.
func unreadyMessage(pod *corev1.Pod, out *corev1.PodStatus) string {
	var unknown, unready []string
	check := func(name string) {
		cs := statusOf(out.ContainerStatuses, name)
		if cs == nil {
			cs = statusOf(out.InitContainerStatuses, name)
		}
		switch {
		case cs == nil:
			unknown = append(unknown, name)
		case !cs.Ready:
			unready = append(unready, name)
		}
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; isSidecar(c) {
			check(c.Name)
		}
	}
	for i := range pod.Spec.Containers {
		check(pod.Spec.Containers[i].Name)
	}
	return containersMessage(unknown, "unready", unready)
}

// containersMessage names, in the kubelet's words, the containers of which nothing is
// known, then those whose status is what (unready, incomplete).
func containersMessage(unknown []string, what string, others []string) string {
	var parts []string
	if len(unknown) > 0 {
		parts = append(parts, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(others) > 0 {
		parts = append(parts, fmt.Sprintf("containers with %s status: %s", what, others))
	}
	return strings.Join(parts, ", ")
}

// isSidecar says whether an init container is a native sidecar: restartPolicy Always,
// it runs beside the main containers, and its readiness counts with theirs.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// unmetGates says, in the kubelet's words, which of a pod's readiness gates are not
// True in its status; empty when all are.
func unmetGates(pod *corev1.Pod, out *corev1.PodStatus) string {
	var parts []string
	for _, g := range pod.Spec.ReadinessGates {
		c := podCondition(out, g.ConditionType)
		switch {
		case c == nil:
			parts = append(parts, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(g.ConditionType)))
		case c.Status != corev1.ConditionTrue:
			parts = append(parts, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(g.ConditionType), c.Status))
		}
	}
	return strings.Join(parts, ", ")
}

// GatedReadiness is the status of a running pod with readiness gates once its Ready is
// evaluated again against them, and whether that changed anything: another controller
// sets a gate's condition when it sees fit, and a kubelet then makes the pod Ready (or
// not) without any change of its containers. Ready follows ContainersReady, which the
// pod's task updates keep, and the gates.
func GatedReadiness(pod *corev1.Pod) (corev1.PodStatus, bool) {
	if len(pod.Spec.ReadinessGates) == 0 || pod.Status.Phase != corev1.PodRunning {
		return corev1.PodStatus{}, false
	}
	cr := podCondition(&pod.Status, corev1.ContainersReady)
	if cr == nil || cr.Status != corev1.ConditionTrue {
		return corev1.PodStatus{}, false
	}
	out := *pod.Status.DeepCopy()
	if gates := unmetGates(pod, &out); gates != "" {
		SetPodCondition(&out, corev1.PodReady, corev1.ConditionFalse, ReasonReadinessGatesNotReady, gates)
	} else {
		SetPodCondition(&out, corev1.PodReady, corev1.ConditionTrue, "", "")
	}
	return out, PodStatusChanged(&pod.Status, &out)
}

// RestoredReadiness is the status of a running pod whose Ready another set False while
// its task's status says Ready (PodStatusFor, without new data from the executor: its
// containers' readiness as last reported, the task's health, the readiness gates), and
// whether it differs: the node lifecycle controller sets a pod's Ready False when its
// Node stops being Ready (every replica of the manager was down, and no one renewed it),
// and nothing else would set it back before the task's next update, which may be a long
// way off. A kubelet that comes back writes its pods' statuses again; k8sm writes what the
// task says, as a reconciliation answer would. Only a pod whose Running phase was
// mirrored from the task is considered, so that its container statuses are the
// executor's.
//
// A Ready k8sm wrote itself (True, or False with one of its reasons: ownReadyReason) is
// left alone: the scheduler writes it from an update the MesosTask read here may not show
// yet (the two informers do not keep step), and a MesosTask's updates do not bring its pod
// here again: a pod the scheduler found unreachable would stay Ready. The node lifecycle
// controller only turns the condition False, keeping its reason, which k8sm leaves empty
// on a Ready pod.
func RestoredReadiness(pod *corev1.Pod, st *mesosv1alpha1.MesosTaskStatus) (corev1.PodStatus, bool) {
	if st.Phase != mesosv1alpha1.TaskPhaseRunning || pod.Status.Phase != corev1.PodRunning {
		return corev1.PodStatus{}, false
	}
	ready := podCondition(&pod.Status, corev1.PodReady)
	if ready == nil || ready.Status == corev1.ConditionTrue || ownReadyReason(ready.Reason) {
		return corev1.PodStatus{}, false
	}
	want := PodStatusFor(pod, st, nil)
	if !PodReady(&want) {
		return corev1.PodStatus{}, false
	}
	return want, PodStatusChanged(&pod.Status, &want)
}

// ownReadyReason says whether a reason of a pod's Ready=False is one k8sm gives it
// (setReadiness, failPod).
func ownReadyReason(reason string) bool {
	switch reason {
	case ReasonAgentUnreachable, ReasonContainersNotReady, ReasonReadinessGatesNotReady, ReasonPodCompleted, ReasonPodFailed:
		return true
	}
	return false
}
