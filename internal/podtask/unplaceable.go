package podtask

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// UnplaceableResources lists, sorted and each once, the resources a pod asks for that
// k8sm cannot place: any but cpu, memory, ephemeral-storage and nvidia.com/gpu (the
// task's resources, taskResourceNames) with a non-zero request or limit in a container,
// an init container (sidecars too), the pod-level resources or the overhead. Extended
// resources (example.com/fpga, amd.com/gpu) and hugepages are such: placement counts
// none of them, so a pod asking for one would run on an agent that may not have it.
// A zero amount asks for nothing, as kube-scheduler counts it. nil means none.
func UnplaceableResources(pod *corev1.Pod) []corev1.ResourceName {
	var names []corev1.ResourceName
	add := func(list corev1.ResourceList) {
		for name, q := range list {
			if !q.IsZero() && !slices.Contains(taskResourceNames, name) && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	eachContainer(pod, func(_ *field.Path, c *corev1.Container) {
		add(c.Resources.Requests)
		add(c.Resources.Limits)
	})
	if pr := pod.Spec.Resources; pr != nil {
		add(pr.Requests)
		add(pr.Limits)
	}
	add(pod.Spec.Overhead)
	slices.Sort(names)
	return names
}

// UnplaceableMessage says, as PodScheduled's message, why a pod asking for the
// resources named (UnplaceableResources) waits for nothing.
func UnplaceableMessage(names []corev1.ResourceName) string {
	asked := make([]string, len(names))
	for i, n := range names {
		asked[i] = string(n)
	}
	placed := make([]string, len(taskResourceNames))
	for i, n := range taskResourceNames {
		placed[i] = string(n)
	}
	last := len(placed) - 1
	msg := "the pod asks for " + strings.Join(asked, ", ") + ", which Mesos agents do not offer to k8sm: it places " +
		strings.Join(placed[:last], ", ") + " and " + placed[last]
	return Clamp(msg, MaxMessageLength)
}

// ClaimsMessage says, as PodScheduled's message, why a pod that claims devices through
// dynamic resource allocation (spec.resourceClaims) waits for nothing: no driver
// allocates devices on Mesos agents, and a pod placed without them would run without
// what it claims.
func ClaimsMessage(claims []corev1.PodResourceClaim) string {
	names := make([]string, len(claims))
	for i, c := range claims {
		names[i] = c.Name
	}
	return Clamp("the pod claims devices (spec.resourceClaims: "+strings.Join(names, ", ")+
		"), which k8sm cannot allocate on Mesos agents", MaxMessageLength)
}

// CheckPlaceable is the error, as PodScheduled's message, for a pod k8sm cannot place:
// one asking for resources placement does not count (UnplaceableMessage), or claiming
// devices (ClaimsMessage); nil for one it can.
func CheckPlaceable(pod *corev1.Pod) error {
	if names := UnplaceableResources(pod); len(names) > 0 {
		return errors.New(UnplaceableMessage(names))
	}
	if len(pod.Spec.ResourceClaims) > 0 {
		return errors.New(ClaimsMessage(pod.Spec.ResourceClaims))
	}
	return nil
}

// CheckGPUs is the error, as PodScheduled's message, for a pod asking for nvidia.com/gpu
// of a cluster whose framework does not ask Mesos for GPU_RESOURCES; nil for any other.
// Mesos offers GPUs only to frameworks with that capability, and masters by default
// (--filter_gpu_resources) offer the others nothing at all of an agent that has GPUs:
// the pod would wait for an offer that never comes.
func CheckGPUs(pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) error {
	if mc.Spec.Framework.AsksForGPUs() {
		return nil
	}
	if gpus := total(pod, ResourceGPU); gpus.IsZero() {
		return nil
	}
	return errors.New(Clamp("the pod asks for "+string(ResourceGPU)+", which Mesos offers only to a framework with the "+
		string(mesosv1alpha1.CapabilityGPUResources)+" capability: add it to spec.framework.capabilities of MesosCluster "+mc.Name, MaxMessageLength))
}

// CheckRole is the error, as PodScheduled's message, for a pod whose mesos.k8sm.io/role
// is not one of its cluster's spec.framework.roles; nil for any other. Mesos allocates a
// framework's offers to the roles it subscribed with, and placement takes a pod's
// resources from offers allocated to its role alone: the pod would wait for an offer
// that never comes.
func CheckRole(pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) error {
	role := pod.Annotations[AnnotationRole]
	if role == "" {
		return nil
	}
	roles := mc.Spec.Framework.Roles
	if len(roles) == 0 {
		roles = []string{"*"}
	}
	if slices.Contains(roles, role) {
		return nil
	}
	return errors.New(Clamp(fmt.Sprintf("the pod asks for resources of Mesos role %q (annotation %s), which MesosCluster %s's framework is not offered: "+
		"add the role to its spec.framework.roles (now %s)", role, AnnotationRole, mc.Name, strings.Join(roles, ", ")), MaxMessageLength))
}
