package process

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// A container's oom_score_adj is the kubelet's for its pod's QoS class: BestEffort
// 1000, Guaranteed -997 (which the helper leaves at the executor's own), Burstable 1000
// less its memory request's share of the agent in thousandths, from 3 to 999.
func TestOOMScoreAdjIsTheKubelets(t *testing.T) {
	const gi = int64(1) << 30
	res := func(req, lim string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{}
		if req != "" {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse(req)}
		}
		if lim != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse(lim)}
		}
		return r
	}
	pod := func(rs ...corev1.ResourceRequirements) *corev1.Pod {
		p := &corev1.Pod{}
		for _, r := range rs {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c", Resources: r})
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		capacity int64
		qos      corev1.PodQOSClass
		want     int
	}{
		{"nothing asked", pod(res("", "")), 8 * gi, corev1.PodQOSBestEffort, 1000},
		{"requests equal to limits", pod(res("1Gi", "1Gi")), 8 * gi, corev1.PodQOSGuaranteed, -997},
		{"a quarter of the agent", pod(res("2Gi", "")), 8 * gi, corev1.PodQOSBurstable, 750},
		{"limits above requests", pod(res("1Gi", "2Gi")), 8 * gi, corev1.PodQOSBurstable, 875},
		{"all of the agent", pod(res("8Gi", "")), 8 * gi, corev1.PodQOSBurstable, 3},
		{"more than the agent", pod(res("16Gi", "")), 8 * gi, corev1.PodQOSBurstable, 3},
		{"a sliver", pod(res("1Ki", "")), 8 * gi, corev1.PodQOSBurstable, 999},
		{"one container guaranteed, one not", pod(res("1Gi", "1Gi"), res("", "")), 8 * gi, corev1.PodQOSBurstable, 875},
		{"the agent's memory unknown", pod(res("1Gi", "")), 0, corev1.PodQOSBurstable, 999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podQOS(tc.pod); got != tc.qos {
				t.Fatalf("QoS %s, want %s", got, tc.qos)
			}
			if got := oomScoreAdj(tc.pod, &tc.pod.Spec.Containers[0], tc.capacity); got != tc.want {
				t.Errorf("oom_score_adj %d, want %d", got, tc.want)
			}
		})
	}
	// The pod's own resources, where it has them, make its class.
	p := pod(res("", ""))
	r := res("1Gi", "1Gi")
	p.Spec.Resources = &r
	if got := podQOS(p); got != corev1.PodQOSGuaranteed {
		t.Errorf("pod-level requests equal to limits: QoS %s, want Guaranteed", got)
	}
}
