package kubelet

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// The kubelet runtime's pods' resource usage, from the agent kubelet's summary API.

// Stats returns the kubelet's summary of the Node and of this runtime's pods (the
// kubelet's other pods left out), the pods named as the API server names them.
func (r *Runtime) Stats(ctx context.Context) (kubeletapi.Stats, error) {
	// Only CPU and memory, all that Stats has: the kubelet then skips the filesystems,
	// which fail the whole summary where cAdvisor cannot tell the root filesystem's device.
	var s summary
	if err := r.getContext(ctx, "/stats/summary?only_cpu_and_memory=true", &s); err != nil {
		return kubeletapi.Stats{}, fmt.Errorf("asking the kubelet at %s for its stats: %w", r.URL, err)
	}
	var l corev1.PodList
	if err := r.getContext(ctx, "/pods", &l); err != nil {
		return kubeletapi.Stats{}, fmt.Errorf("asking the kubelet at %s for its pods: %w", r.URL, err)
	}
	byUID := map[string]*record{}
	for _, rec := range r.pods.all() {
		byUID[string(rec.pod.UID)] = rec
	}
	// The kubelet's UIDs of the static pods of this runtime's current pods.
	ours := map[types.UID]*corev1.Pod{}
	for i := range l.Items {
		kp := &l.Items[i]
		// Not an earlier task's pod of the same name, still going, nor an API pod.
		if rec := byUID[kp.Annotations[AnnotationPodUID]]; rec != nil && isStaticPodOf(kp, string(rec.pod.UID), rec.task()) {
			ours[kp.UID] = rec.pod
		}
	}
	st := kubeletapi.Stats{Node: kubeletapi.NodeStats{StartTime: s.Node.StartTime.Time, Usage: usage(s.Node.CPU, s.Node.Memory)}}
	for _, ps := range s.Pods {
		p := ours[types.UID(ps.PodRef.UID)]
		if p == nil {
			continue
		}
		pod := kubeletapi.PodStats{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID),
			StartTime: ps.StartTime.Time, Usage: usage(ps.CPU, ps.Memory)}
		for _, c := range ps.Containers {
			pod.Containers = append(pod.Containers, kubeletapi.ContainerStats{Name: c.Name, StartTime: c.StartTime.Time, Usage: usage(c.CPU, c.Memory)})
		}
		st.Pods = append(st.Pods, pod)
	}
	return st, nil
}

// summary is the part of the kubelet's Summary API (k8s.io/kubelet/pkg/apis/stats/
// v1alpha1) that kubeletapi.Stats has.
type summary struct {
	Node struct {
		StartTime metav1.Time  `json:"startTime"`
		CPU       *cpuStats    `json:"cpu"`
		Memory    *memoryStats `json:"memory"`
	} `json:"node"`
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			UID       string `json:"uid"`
		} `json:"podRef"`
		StartTime  metav1.Time  `json:"startTime"`
		CPU        *cpuStats    `json:"cpu"`
		Memory     *memoryStats `json:"memory"`
		Containers []struct {
			Name      string       `json:"name"`
			StartTime metav1.Time  `json:"startTime"`
			CPU       *cpuStats    `json:"cpu"`
			Memory    *memoryStats `json:"memory"`
		} `json:"containers"`
	} `json:"pods"`
}

type cpuStats struct {
	Time                 metav1.Time `json:"time"`
	UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds"`
}

type memoryStats struct {
	Time            metav1.Time `json:"time"`
	WorkingSetBytes *uint64     `json:"workingSetBytes"`
}

// usage is a sample of both CPU and memory, or none (not known) when the kubelet gave
// only one: metrics-server takes a pod's usage only with both.
func usage(cpu *cpuStats, mem *memoryStats) kubeletapi.Usage {
	if cpu == nil || cpu.UsageCoreNanoSeconds == nil || mem == nil || mem.WorkingSetBytes == nil {
		return kubeletapi.Usage{}
	}
	t := cpu.Time.Time
	if mem.Time.After(t) {
		t = mem.Time.Time
	}
	return kubeletapi.Usage{Time: t, CPUUsageNanoSeconds: *cpu.UsageCoreNanoSeconds, MemoryWorkingSetBytes: *mem.WorkingSetBytes}
}
