package podtask

import (
	"slices"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

// Every place a pod asks for resources is read, and only what placement does not count
// is listed: a pod asking for an extended resource or hugepages would otherwise run on
// an agent that need not have it.
func TestUnplaceableResources(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	limitsOnly := asking("cpu", "1")
	limitsOnly.Spec.Containers[0].Resources.Limits = quantities("example.com/fpga", "1")
	hugepages := asking()
	hugepages.Spec.Containers[0].Resources.Limits = quantities("hugepages-2Mi", "4Mi", "hugepages-1Gi", "1Gi", "memory", "2Gi")
	initContainer := asking()
	initContainer.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: quantities("amd.com/gpu", "1")}}}
	sidecar := asking()
	sidecar.Spec.InitContainers = []corev1.Container{{Name: "s", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Limits: quantities("example.com/nic", "2")}}}
	podLevel := asking()
	podLevel.Spec.Resources = &corev1.ResourceRequirements{Requests: quantities("cpu", "1", "hugepages-2Mi", "2Mi")}
	podLevelLimits := asking()
	podLevelLimits.Spec.Resources = &corev1.ResourceRequirements{Limits: quantities("hugepages-1Gi", "1Gi")}
	overhead := asking()
	overhead.Spec.Overhead = quantities("cpu", "10m", "example.com/sgx", "1")
	twice := asking("example.com/fpga", "1", "amd.com/gpu", "1")
	twice.Spec.Containers = append(twice.Spec.Containers, corev1.Container{Name: "d",
		Resources: corev1.ResourceRequirements{Requests: quantities("example.com/fpga", "2")}})
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want []corev1.ResourceName
	}{
		{"nothing asked", asking(), nil},
		{"what k8sm places", asking("cpu", "1", "memory", "1Gi", "ephemeral-storage", "1Gi", "nvidia.com/gpu", "2"), nil},
		{"an extended resource requested", asking("cpu", "1", "example.com/fpga", "1"), []corev1.ResourceName{"example.com/fpga"}},
		{"an extended resource in limits only", limitsOnly, []corev1.ResourceName{"example.com/fpga"}},
		{"hugepages", hugepages, []corev1.ResourceName{"hugepages-1Gi", "hugepages-2Mi"}},
		{"an init container's", initContainer, []corev1.ResourceName{"amd.com/gpu"}},
		{"a sidecar's", sidecar, []corev1.ResourceName{"example.com/nic"}},
		{"pod-level requests", podLevel, []corev1.ResourceName{"hugepages-2Mi"}},
		{"pod-level limits", podLevelLimits, []corev1.ResourceName{"hugepages-1Gi"}},
		{"the overhead's", overhead, []corev1.ResourceName{"example.com/sgx"}},
		{"sorted, each once", twice, []corev1.ResourceName{"amd.com/gpu", "example.com/fpga"}},
		{"a zero amount asks for nothing", asking("example.com/fpga", "0"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := UnplaceableResources(tc.pod)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("UnplaceableResources = %v, want %v", got, tc.want)
			}
			err := CheckPlaceable(tc.pod)
			if (err == nil) != (tc.want == nil) {
				t.Fatalf("CheckPlaceable = %v, want an error %v", err, tc.want != nil)
			}
		})
	}
}

// A pod claiming devices through dynamic resource allocation is refused too: no driver
// allocates them on Mesos agents, and the pod would run without them.
func TestCheckPlaceableRefusesDeviceClaims(t *testing.T) {
	name := "gpu-claim"
	pod := asking("cpu", "1")
	pod.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpu", ResourceClaimName: &name}, {Name: "nic"}}
	pod.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
	want := "the pod claims devices (spec.resourceClaims: gpu, nic), which k8sm cannot allocate on Mesos agents"
	if err := CheckPlaceable(pod); err == nil || err.Error() != want {
		t.Fatalf("CheckPlaceable = %v, want %q", err, want)
	}
	a := placement.Assignment{Request: placement.Request{ID: TaskIDFor(pod)}, AgentID: mesos.AgentID{Value: "S1"}}
	if _, err := BuildTaskInfo(pod, a, mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"}}, defaultSecurity); err == nil || err.Error() != want {
		t.Fatalf("BuildTaskInfo error = %v, want %q", err, want)
	}
}

func TestUnplaceableMessage(t *testing.T) {
	got := UnplaceableMessage([]corev1.ResourceName{"example.com/fpga", "hugepages-2Mi"})
	want := "the pod asks for example.com/fpga, hugepages-2Mi, which Mesos agents do not offer to k8sm: it places cpu, memory, ephemeral-storage and nvidia.com/gpu"
	if got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	many := make([]corev1.ResourceName, 2000)
	for i := range many {
		many[i] = "example.com/r"
	}
	if got := UnplaceableMessage(many); len(got) > MaxMessageLength || !strings.HasPrefix(got, "the pod asks for example.com/r, ") {
		t.Fatalf("a long message is cut to %d bytes: got %d bytes", MaxMessageLength, len(got))
	}
}

// The launch is the net: a pod asking for what k8sm cannot place is never launched,
// whichever way it reached an offer.
func TestBuildTaskInfoRefusesUnplaceable(t *testing.T) {
	pod := asking("cpu", "1", "example.com/fpga", "1")
	a := placement.Assignment{Request: placement.Request{ID: TaskIDFor(pod)}, AgentID: mesos.AgentID{Value: "S1"}}
	_, err := BuildTaskInfo(pod, a, mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"}}, defaultSecurity)
	if err == nil || !strings.HasPrefix(err.Error(), "the pod asks for example.com/fpga, which Mesos agents do not offer to k8sm") {
		t.Fatalf("BuildTaskInfo error = %v, want the unplaceable resource named", err)
	}
}

// Mesos offers GPUs only to a framework with the GPU_RESOURCES capability, and by
// default (--filter_gpu_resources) nothing at all of an agent that has them to one
// without: a pod asking for nvidia.com/gpu on a cluster that does not ask for it would
// wait for an offer that never comes. It is refused, the message naming the capability.
func TestCheckGPUsNamesTheMissingCapability(t *testing.T) {
	cluster := func(caps ...mesosv1alpha1.FrameworkCapability) *mesosv1alpha1.MesosCluster {
		mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m"}}
		mc.Spec.Framework.Capabilities = caps
		return mc
	}
	initGPU := asking("cpu", "1")
	initGPU.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Limits: quantities("nvidia.com/gpu", "1")}}}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		mc      *mesosv1alpha1.MesosCluster
		refused bool
	}{
		{"gpus, the default capabilities", asking("nvidia.com/gpu", "1"), cluster(), true},
		{"gpus, capabilities without GPU_RESOURCES", asking("nvidia.com/gpu", "2"), cluster("PARTITION_AWARE"), true},
		{"an init container's gpus", initGPU, cluster(), true},
		{"gpus, GPU_RESOURCES asked for", asking("nvidia.com/gpu", "1"), cluster("PARTITION_AWARE", "GPU_RESOURCES"), false},
		{"no gpus", asking("cpu", "1"), cluster(), false},
		{"zero gpus", asking("nvidia.com/gpu", "0"), cluster(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckGPUs(tc.pod, tc.mc)
			if !tc.refused {
				if err != nil {
					t.Fatalf("CheckGPUs = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "GPU_RESOURCES") || !strings.Contains(err.Error(), "MesosCluster m") {
				t.Fatalf("CheckGPUs = %v, want an error naming GPU_RESOURCES and the cluster", err)
			}
		})
	}
}

// A pod asking for a role's resources that its cluster's framework does not subscribe
// with would wait for ever: Mesos offers it only its roles' resources. The message says
// which role, and where to add it.
func TestCheckRoleNamesTheFrameworksRoles(t *testing.T) {
	withRole := func(role string) *corev1.Pod {
		p := asking("cpu", "1")
		p.Annotations = map[string]string{AnnotationRole: role}
		return p
	}
	cluster := func(roles ...string) *mesosv1alpha1.MesosCluster {
		mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m"}}
		mc.Spec.Framework.Roles = roles
		return mc
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		mc   *mesosv1alpha1.MesosCluster
		want string // a part of the message; "" when taken
	}{
		{"no role", asking("cpu", "1"), cluster("k8s"), ""},
		{"one of the roles", withRole("k8s"), cluster("*", "k8s"), ""},
		{"the default role, roles unset", withRole("*"), cluster(), ""},
		{"a role the framework lacks", withRole("k8s"), cluster("*"), `role "k8s" (annotation mesos.k8sm.io/role), which MesosCluster m's framework is not offered: add the role to its spec.framework.roles (now *)`},
		{"the default role, not among them", withRole("*"), cluster("k8s", "web"), "(now k8s, web)"},
		{"a subrole is offered as itself, not as its parent", withRole("eng"), cluster("eng/web"), "(now eng/web)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRole(tc.pod, tc.mc)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckRole = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckRole = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
