// Package podtask translates between a Pod and its Mesos task: the task id and
// resources of a pod, the TaskInfo that launches it, and what each TaskStatus means for
// the MesosTask and the Pod (the state table in docs/mesos-mapping.md). It is pure: no Kubernetes client.
package podtask

import (
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

const (
	// AnnotationRole asks for the task's resources to come from a Mesos role.
	AnnotationRole = "mesos.k8sm.io/role"
	// ResourceGPU is the Kubernetes name of Mesos's gpus.
	ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

	// AnnotationTaskLabelPrefix: an annotation task-label.mesos.k8sm.io/KEY: VALUE becomes
	// the Mesos task label KEY=VALUE (what Mesos tools and service discovery read).
	AnnotationTaskLabelPrefix = "task-label.mesos.k8sm.io/"

	// LabelNamespace, LabelName and LabelUID are the TaskInfo labels naming the pod.
	LabelNamespace = "k8sm.io/pod-namespace"
	LabelName      = "k8sm.io/pod-name"
	LabelUID       = "k8sm.io/pod-uid"
)

// Defaults are what a pod's task asks for where the pod requests nothing.
type Defaults struct {
	CPU, Memory resource.Quantity
}

// DefaultCPU and DefaultMemory are the package defaults: 0.1 cpu and 64Mi.
var (
	DefaultCPU    = resource.MustParse("100m")
	DefaultMemory = resource.MustParse("64Mi")
)

// TaskIDFor is the Mesos task id of a pod: derived from its UID, so the same pod is
// never launched as two tasks, and a new pod of the same name is a new task.
func TaskIDFor(pod *corev1.Pod) string {
	return taskIDPrefix + string(pod.UID)
}

const taskIDPrefix = "k8sm."

// IsTaskIDOf says whether id is the pod's TaskIDFor, without making that.
func IsTaskIDOf(id string, pod *corev1.Pod) bool {
	uid, ok := strings.CutPrefix(id, taskIDPrefix)
	return ok && uid == string(pod.UID)
}

// PodRef names the pod a task runs.
type PodRef struct {
	Namespace, Name string
	UID             types.UID
}

// PodRefFromLabels reads the pod a task runs from its TaskInfo labels; ok is false when
// a label is missing (a task k8sm did not launch). The first of each label counts: k8sm
// puts its own before the pod's task labels, which may not use its keys anyway.
func PodRefFromLabels(labels *mesos.Labels) (ref PodRef, ok bool) {
	var have int
	for _, l := range labels.GetLabels() {
		switch {
		case l.Key == LabelNamespace && have&1 == 0:
			ref.Namespace, have = l.GetValue(), have|1
		case l.Key == LabelName && have&2 == 0:
			ref.Name, have = l.GetValue(), have|2
		case l.Key == LabelUID && have&4 == 0:
			ref.UID, have = types.UID(l.GetValue()), have|4
		}
	}
	return ref, have == 7 && ref.Name != "" && ref.UID != ""
}

// requestOf is what one container asks for: its requests, or its limits where it only
// sets limits (as Kubernetes defaults requests to limits).
func requestOf(c *corev1.Container, name corev1.ResourceName) resource.Quantity {
	if q, ok := c.Resources.Requests[name]; ok {
		return bounded(q, name)
	}
	if q, ok := c.Resources.Limits[name]; ok {
		return bounded(q, name)
	}
	return resource.Quantity{}
}

// podRequest adds up a pod's request of one resource as Kubernetes does: the pod-level
// request when the pod sets one, else the sum of the containers and restartable
// (sidecar) init containers, at least the largest one-shot init container plus the
// sidecars started before it; plus the pod overhead. Each quantity counts within
// [0, its limit] (bounded), so that no sum wraps or expands a huge exponent.
func podRequest(pod *corev1.Pod, name corev1.ResourceName) resource.Quantity {
	var sum resource.Quantity
	if pr := pod.Spec.Resources; pr != nil {
		q, ok := pr.Requests[name]
		if !ok {
			q, ok = pr.Limits[name]
		}
		if ok {
			sum = bounded(q, name).DeepCopy()
			if o, ok := pod.Spec.Overhead[name]; ok {
				sum.Add(bounded(o, name))
			}
			return sum
		}
	}
	for i := range pod.Spec.Containers {
		q := requestOf(&pod.Spec.Containers[i], name)
		sum.Add(q)
	}
	var sidecars, initMax resource.Quantity
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		q := requestOf(c, name)
		if isSidecar(c) {
			sidecars.Add(q)
			continue
		}
		peak := sidecars.DeepCopy()
		peak.Add(q)
		if peak.Cmp(initMax) > 0 {
			initMax = peak
		}
	}
	sum.Add(sidecars)
	if initMax.Cmp(sum) > 0 {
		sum = initMax
	}
	if q, ok := pod.Spec.Overhead[name]; ok {
		sum.Add(bounded(q, name))
	}
	return sum
}

// ResourcesFor is ResourcesWithDefaults with the package defaults.
func ResourcesFor(pod *corev1.Pod) mesosv1alpha1.TaskResources {
	return ResourcesWithDefaults(pod, Defaults{CPU: DefaultCPU, Memory: DefaultMemory})
}

// ResourcesWithDefaults is what a pod's task asks Mesos for: cpus, memory and disk
// (ephemeral-storage) as Kubernetes adds them up, GPUs from nvidia.com/gpu (rounded
// up), the host ports of its containers, and the defaults for cpus and memory where
// nothing is requested. It takes any pod: a quantity out of range counts as 0 or as its
// limit (MaxCPUs, MaxBytes, MaxGPUs), which no agent offers, and a port out of range
// is left out; TaskResourcesWithDefaults refuses such a pod instead.
func ResourcesWithDefaults(pod *corev1.Pod, defaults Defaults) mesosv1alpha1.TaskResources {
	var r mesosv1alpha1.TaskResources
	cpu := total(pod, corev1.ResourceCPU)
	if cpu.IsZero() {
		cpu = bounded(defaults.CPU, corev1.ResourceCPU).DeepCopy()
	}
	mem := total(pod, corev1.ResourceMemory)
	if mem.IsZero() {
		mem = bounded(defaults.Memory, corev1.ResourceMemory).DeepCopy()
	}
	r.CPUs, r.Memory = &cpu, &mem
	if disk := total(pod, corev1.ResourceEphemeralStorage); !disk.IsZero() {
		r.Disk = &disk
	}
	if gpus := total(pod, ResourceGPU); !gpus.IsZero() {
		r.GPUs = int32(gpus.Value()) // at most MaxGPUs
	}
	seen := map[int32]bool{}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort > 0 && p.HostPort <= MaxPort && !seen[p.HostPort] {
					seen[p.HostPort] = true
					r.Ports = append(r.Ports, p.HostPort)
				}
			}
		}
	}
	return r
}

// total is podRequest within the resource's limit.
func total(pod *corev1.Pod, name corev1.ResourceName) resource.Quantity {
	return bounded(podRequest(pod, name), name)
}
