package process

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The kubelet's oom_score_adj of a container by its pod's QoS class
// (pkg/kubelet/qos/policy.go).
const (
	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
)

// oomScoreAdj is the oom_score_adj a container of the pod starts with, as the kubelet
// gives it (GetContainerOOMScoreAdjust): 1000 for a BestEffort pod, for a Burstable one
// 1000 less its share of the agent's memory (memCapacity bytes) in thousandths, from 3 to
// 999, so that under memory pressure the kernel kills BestEffort pods first and then
// those that asked for the least. A Guaranteed pod's -997 is the kubelet's; here the
// helper only ever raises a container's score above the executor's own (launch.go):
// a container scored below the executor would outlive it, and the executor's end ends
// all of its pods. So a Guaranteed pod keeps the executor's score, and every other pod
// goes before the executor.
func oomScoreAdj(p *corev1.Pod, c *corev1.Container, memCapacity int64) int {
	switch podQOS(p) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOMScoreAdj
	case corev1.PodQOSBestEffort:
		return besteffortOOMScoreAdj
	}
	if memCapacity <= 0 {
		return besteffortOOMScoreAdj - 1
	}
	request := c.Resources.Requests.Memory().Value()
	adj := besteffortOOMScoreAdj - (1000*request)/memCapacity
	switch {
	case adj < 1000+guaranteedOOMScoreAdj:
		return 1000 + guaranteedOOMScoreAdj
	case adj >= besteffortOOMScoreAdj:
		return besteffortOOMScoreAdj - 1
	}
	return int(adj)
}

// podQOS is the pod's QoS class as the API server gives it (status.qosClass, which the
// executor's copy of the pod lacks), from its cpu and memory requests and limits:
// BestEffort without any, Guaranteed when every container has both limits and its
// requests equal them (the pod's own resources, where it has them), else Burstable.
func podQOS(p *corev1.Pod) corev1.PodQOSClass {
	if p.Status.QOSClass != "" {
		return p.Status.QOSClass
	}
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(r *corev1.ResourceRequirements) {
		found := 0
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := r.Requests[name]; ok && q.Sign() > 0 {
				addTo(requests, name, q)
			}
			if q, ok := r.Limits[name]; ok && q.Sign() > 0 {
				addTo(limits, name, q)
				found++
			}
		}
		if found < 2 {
			guaranteed = false
		}
	}
	if p.Spec.Resources != nil {
		add(p.Spec.Resources)
	} else {
		for i := range p.Spec.InitContainers {
			add(&p.Spec.InitContainers[i].Resources)
		}
		for i := range p.Spec.Containers {
			add(&p.Spec.Containers[i].Resources)
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func addTo(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	sum := l[name]
	sum.Add(q)
	l[name] = sum
}
