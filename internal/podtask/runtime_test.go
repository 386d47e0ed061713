package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// CheckRuntime names each field the runtime cannot provide, in one message a user reads
// on the pod; the cluster's runtime by default is the process runtime.
func TestCheckRuntimeNamesEachField(t *testing.T) {
	pod := asking("cpu", "1")
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-0"}}},
	}
	pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
	pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Command: []string{"true"}, EnvFrom: []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}}
	pod.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "IPS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIPs"}}},
		{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
	}
	for _, tc := range []struct {
		runtime mesosv1alpha1.ExecutorRuntime
		want    string
	}{
		{"", "the cluster's process runtime (spec.executor.runtime) cannot run the pod: " +
			"spec.volumes[1] (data): it cannot provide persistentVolumeClaim volumes; " +
			"spec.initContainers[0].envFrom[0]: it cannot read ConfigMaps or Secrets; " +
			"spec.containers[0].command: it runs commands, and c has none; " +
			"spec.containers[0].env[1] (IPS): it gives no fieldRef status.podIPs; " +
			"spec.containers[0].env[2] (CPU): it takes values from fieldRef only, not from resourceFieldRef"},
		{mesosv1alpha1.RuntimeKubelet, "the cluster's kubelet runtime (spec.executor.runtime) cannot run the pod: " +
			"spec.volumes[1] (data): it cannot provide persistentVolumeClaim volumes; " +
			"spec.imagePullSecrets: a static pod cannot refer to Secrets; give the agents' container runtime the registry credentials; " +
			"spec.initContainers[0].envFrom[0]: a static pod cannot refer to ConfigMaps or Secrets"},
	} {
		t.Run(string(tc.runtime), func(t *testing.T) {
			if err := CheckRuntime(pod, tc.runtime); err == nil || err.Error() != tc.want {
				t.Fatalf("CheckRuntime = %v,\nwant %s", err, tc.want)
			}
		})
	}
}
