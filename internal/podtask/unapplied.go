package podtask

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// ReasonEphemeralNotRun is the waiting reason of an ephemeral container k8sm does not run.
const ReasonEphemeralNotRun = "EphemeralContainersNotSupported"

// ephemeralNotRunMessage says why an ephemeral container never starts.
const ephemeralNotRunMessage = "a Mesos task runs its pod as launched: ephemeral containers (kubectl debug) are not run"

// UnappliedResize is why a running pod's task does not have the resources the pod now
// asks for (a resize through pods/resize, which Kubernetes applies in place), or "" when
// it has them. A Mesos task keeps the resources it was launched with: Mesos cannot resize
// a task, and its executor runs the pod as launched. task is what the MesosTask holds; a
// MesosTask that does not say is taken to hold what the pod asks for.
func UnappliedResize(pod *corev1.Pod, task mesosv1alpha1.TaskResources) string {
	if task.CPUs == nil || task.Memory == nil {
		return ""
	}
	want := ResourcesFor(pod)
	if sameQuantity(want.CPUs, task.CPUs) && sameQuantity(want.Memory, task.Memory) && sameQuantity(want.Disk, task.Disk) && want.GPUs == task.GPUs {
		return ""
	}
	return fmt.Sprintf("the pod's Mesos task holds %s as launched, and Mesos cannot resize a running task: delete the pod to run it with %s",
		describeResources(task), describeResources(want))
}

// MarkUnapplied writes into out, a running pod's status, what of the pod's spec its task
// does not run, as a kubelet says what it cannot apply: PodResizePending=True with reason
// Infeasible while the pod asks for other resources than its task holds
// (UnappliedResize), gone once it asks for them again; and a waiting status for each
// ephemeral container, which is never run. It returns the warnings to record, each once:
// when the status first says it. changed says whether out changed.
func MarkUnapplied(pod *corev1.Pod, task mesosv1alpha1.TaskResources, out *corev1.PodStatus) (warnings []Event, changed bool) {
	if msg := UnappliedResize(pod, task); msg != "" {
		c := podCondition(out, corev1.PodResizePending)
		if c == nil || c.Status != corev1.ConditionTrue || c.Reason != corev1.PodReasonInfeasible || c.Message != msg {
			SetPodCondition(out, corev1.PodResizePending, corev1.ConditionTrue, corev1.PodReasonInfeasible, msg)
			warnings = append(warnings, Event{corev1.EventTypeWarning, "ResizeInfeasible", "Resize", "Pod resize Infeasible: " + msg})
			changed = true
		}
		if c = podCondition(out, corev1.PodResizePending); c.ObservedGeneration != pod.Generation {
			c.ObservedGeneration, changed = pod.Generation, true
		}
	} else if removeCondition(out, corev1.PodResizePending) {
		changed = true
	}
	for _, ec := range pod.Spec.EphemeralContainers {
		if statusOf(out.EphemeralContainerStatuses, ec.Name) != nil {
			continue
		}
		out.EphemeralContainerStatuses = append(out.EphemeralContainerStatuses, corev1.ContainerStatus{Name: ec.Name, Image: ec.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonEphemeralNotRun, Message: ephemeralNotRunMessage}}})
		warnings = append(warnings, Event{corev1.EventTypeWarning, "EphemeralContainerNotRun", "Run",
			fmt.Sprintf("Ephemeral container %s is not run: %s", ec.Name, ephemeralNotRunMessage)})
		changed = true
	}
	return warnings, changed
}

// sameQuantity says whether two quantities, nil for none, are equal.
func sameQuantity(a, b *resource.Quantity) bool {
	if a == nil || b == nil {
		return (a == nil || a.IsZero()) && (b == nil || b.IsZero())
	}
	return a.Cmp(*b) == 0
}

// describeResources names task resources for people: "cpus 100m, memory 64Mi".
func describeResources(r mesosv1alpha1.TaskResources) string {
	var parts []string
	for _, q := range []struct {
		name string
		v    *resource.Quantity
	}{{"cpus", r.CPUs}, {"memory", r.Memory}, {"disk", r.Disk}} {
		if q.v != nil && !q.v.IsZero() {
			parts = append(parts, q.name+" "+q.v.String())
		}
	}
	if r.GPUs > 0 {
		parts = append(parts, fmt.Sprintf("gpus %d", r.GPUs))
	}
	return strings.Join(parts, ", ")
}

// removeCondition removes a condition from a pod status, saying whether there was one.
func removeCondition(s *corev1.PodStatus, t corev1.PodConditionType) bool {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			s.Conditions = append(s.Conditions[:i], s.Conditions[i+1:]...)
			return true
		}
	}
	return false
}
