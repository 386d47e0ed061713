package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// The kubelet runtime enforces a pod's securityContext by handing it to the kubelet:
// the static pod carries every field of the pod's and each container's securityContext,
// and the host namespaces, as the pod asked (docs/security.md, the per-runtime table).
func TestManifestKeepsTheSecurityContext(t *testing.T) {
	yes, no, uid, gid := true, false, int64(1000), int64(3000)
	pod := apiPod()
	pod.Spec.HostNetwork, pod.Spec.HostPID, pod.Spec.HostIPC = true, true, true
	pod.Spec.HostUsers = &no
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &yes,
		SupplementalGroups: []int64{5}, FSGroup: &gid, Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Privileged: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}},
		AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}}
	got := manifestPod(t, pod)
	if !equality.Semantic.DeepEqual(got.Spec.SecurityContext, pod.Spec.SecurityContext) {
		t.Errorf("pod securityContext %+v, want %+v", got.Spec.SecurityContext, pod.Spec.SecurityContext)
	}
	if !equality.Semantic.DeepEqual(got.Spec.Containers[0].SecurityContext, pod.Spec.Containers[0].SecurityContext) {
		t.Errorf("container securityContext %+v, want %+v", got.Spec.Containers[0].SecurityContext, pod.Spec.Containers[0].SecurityContext)
	}
	if !got.Spec.HostNetwork || !got.Spec.HostPID || !got.Spec.HostIPC || got.Spec.HostUsers == nil || *got.Spec.HostUsers {
		t.Errorf("host namespaces %v/%v/%v, hostUsers %v: want the pod's", got.Spec.HostNetwork, got.Spec.HostPID, got.Spec.HostIPC, got.Spec.HostUsers)
	}
}
