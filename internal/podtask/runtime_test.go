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

// The process runtime restarts a container as the pod's restartPolicy says, a sidecar
// always: a container's own restartPolicy that says otherwise, and restartPolicyRules
// anywhere, are refused by name rather than ignored; one that says the same is taken.
func TestCheckRuntimeRefusesRestartPoliciesTheProcessRuntimeIgnores(t *testing.T) {
	policy := func(p corev1.ContainerRestartPolicy) *corev1.ContainerRestartPolicy { return &p }
	rules := []corev1.ContainerRestartRule{{Action: corev1.ContainerRestartRuleActionRestart,
		ExitCodes: &corev1.ContainerRestartRuleOnExitCodes{Operator: corev1.ContainerRestartRuleOnExitCodesOpIn, Values: []int32{42}}}}
	const refused = "the cluster's process runtime (spec.executor.runtime) cannot run the pod: "
	for _, tc := range []struct {
		name      string
		podPolicy corev1.RestartPolicy
		init, ctr corev1.Container
		want      string
	}{
		{"a container's Never in an Always pod", corev1.RestartPolicyAlways, corev1.Container{},
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyNever)},
			refused + "spec.containers[0].restartPolicy: it restarts the container as the pod's restartPolicy says (Always), not as its own (Never)"},
		{"the pod's default is Always", "", corev1.Container{},
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyOnFailure)},
			refused + "spec.containers[0].restartPolicy: it restarts the container as the pod's restartPolicy says (Always), not as its own (OnFailure)"},
		{"a container's own that says the pod's", corev1.RestartPolicyOnFailure, corev1.Container{},
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyOnFailure)}, ""},
		{"an init container's Never in an OnFailure pod", corev1.RestartPolicyOnFailure,
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyNever)}, corev1.Container{},
			refused + "spec.initContainers[0].restartPolicy: it restarts the container as the pod's restartPolicy says (OnFailure), not as its own (Never)"},
		{"an init container's OnFailure in an Always pod", corev1.RestartPolicyAlways,
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyOnFailure)}, corev1.Container{}, ""},
		{"a sidecar", corev1.RestartPolicyNever,
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyAlways)}, corev1.Container{}, ""},
		{"rules, in a sidecar and a container", corev1.RestartPolicyAlways,
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyAlways), RestartPolicyRules: rules},
			corev1.Container{RestartPolicy: policy(corev1.ContainerRestartPolicyAlways), RestartPolicyRules: rules},
			refused + "spec.initContainers[0].restartPolicyRules: it does not restart containers by rules; " +
				"spec.containers[0].restartPolicyRules: it does not restart containers by rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := asking("cpu", "1")
			pod.Spec.RestartPolicy = tc.podPolicy
			tc.init.Name, tc.init.Command = "i", []string{"true"}
			pod.Spec.InitContainers = []corev1.Container{tc.init}
			c := &pod.Spec.Containers[0]
			c.Command, c.RestartPolicy, c.RestartPolicyRules = []string{"true"}, tc.ctr.RestartPolicy, tc.ctr.RestartPolicyRules
			got := ""
			if err := CheckRuntime(pod, mesosv1alpha1.RuntimeProcess); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("CheckRuntime = %q,\nwant %q", got, tc.want)
			}
			if err := CheckRuntime(pod, mesosv1alpha1.RuntimeKubelet); err != nil {
				t.Errorf("the kubelet runtime: %v", err)
			}
		})
	}
}
