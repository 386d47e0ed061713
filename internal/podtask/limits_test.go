package podtask

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

// quantities builds a resource list from name, quantity pairs.
func quantities(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// asking is a pod of one container requesting the pairs given.
func asking(kv ...string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: quantities(kv...)}}}}}
}

// withPorts is a pod of one container with the ports given.
func withPorts(ports ...corev1.ContainerPort) *corev1.Pod {
	pod := asking()
	pod.Spec.Containers[0].Ports = ports
	return pod
}

// Out-of-range input is refused with a message naming the field, never wrapped: each
// case would otherwise reach Mesos as another amount (MilliValue of 1e18 is 0, of
// 12345678901234567890123 negative; int32 of 2^31 gpus is negative).
func TestValidatePodRefusesOutOfRange(t *testing.T) {
	grace := func(s int64) *corev1.Pod {
		pod := asking()
		pod.Spec.TerminationGracePeriodSeconds = &s
		return pod
	}
	twoContainers := asking("memory", "5Pi")
	twoContainers.Spec.Containers = append(twoContainers.Spec.Containers, twoContainers.Spec.Containers[0])
	limitsOnly := asking()
	limitsOnly.Spec.Containers[0].Resources.Limits = quantities("cpu", "1e30")
	initBig := asking()
	initBig.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: quantities("cpu", "1e18")}}}
	podLevel := asking()
	podLevel.Spec.Resources = &corev1.ResourceRequirements{Requests: quantities("cpu", "2T")}
	overhead := asking()
	overhead.Spec.Overhead = quantities("memory", "1e30")
	label := func(key string) *corev1.Pod {
		pod := asking()
		pod.Annotations = map[string]string{AnnotationTaskLabelPrefix + key: "x"}
		return pod
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string // "" when the pod is fine
	}{
		{"an ordinary pod", asking("cpu", "500m", "memory", "1Gi", "nvidia.com/gpu", "1"), ""},
		{"the most of each", asking("cpu", "1T", "memory", "8Pi", "ephemeral-storage", "8Pi", "nvidia.com/gpu", "2147483647"), ""},
		{"cpu 1e18", asking("cpu", "1e18"), "spec.containers[0].resources.requests[cpu]: Invalid value: \"1e18\": more than a Mesos task can ask for: at most 1T"},
		{"cpu whose millicores wrap an int64", asking("cpu", "12345678901234567890123"), "requests[cpu]: Invalid value: \"12345678901234567890123\": more than"},
		{"cpu with a huge exponent, refused at once", asking("cpu", "1e2000000000"), "requests[cpu]"},
		{"memory over 2^53 bytes", asking("memory", "9Pi"), "requests[memory]: Invalid value: \"9Pi\": more than a Mesos task can ask for: at most 8Pi"},
		{"memory adding up to too much", twoContainers, "the pod's memory adds up to more than a Mesos task can ask for"},
		{"negative ephemeral storage", asking("ephemeral-storage", "-1Gi"), "requests[ephemeral-storage]: Invalid value: \"-1Gi\": must not be negative"},
		{"gpus beyond int32", asking("nvidia.com/gpu", "2147483648"), "requests[nvidia.com/gpu]: Invalid value: \"2147483648\": more than a Mesos task can ask for: at most 2147483647"},
		{"negative gpus", asking("nvidia.com/gpu", "-1"), "must not be negative"},
		{"a limit standing in for a request", limitsOnly, "spec.containers[0].resources.limits[cpu]"},
		{"an init container", initBig, "spec.initContainers[0].resources.requests[cpu]"},
		{"a pod-level request", podLevel, "spec.resources.requests[cpu]"},
		{"the overhead", overhead, "spec.overhead[memory]"},
		{"hostPort above 65535", withPorts(corev1.ContainerPort{ContainerPort: 80, HostPort: 70000}), "spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, or 0 for none"},
		{"negative hostPort", withPorts(corev1.ContainerPort{ContainerPort: 80, HostPort: -1}), "ports[0].hostPort: Invalid value: -1"},
		{"containerPort 0", withPorts(corev1.ContainerPort{ContainerPort: 0}), "ports[0].containerPort: Invalid value: 0: must be between 1 and 65535"},
		{"containerPort above 65535", withPorts(corev1.ContainerPort{ContainerPort: 65536}), "ports[0].containerPort: Invalid value: 65536"},
		{"the highest ports", withPorts(corev1.ContainerPort{ContainerPort: 65535, HostPort: 65535}), ""},
		{"a negative grace period", grace(-1), "spec.terminationGracePeriodSeconds: Invalid value: -1"},
		{"a grace period beyond a kill policy", grace(MaxGracePeriodSeconds + 1), "spec.terminationGracePeriodSeconds"},
		{"the longest grace period", grace(MaxGracePeriodSeconds), ""},
		{"a task label passing for the pod's uid", label(LabelUID), "task labels under k8sm.io/ are k8sm's own"},
		{"a task label under k8sm.io/", label("k8sm.io/anything"), "task labels under k8sm.io/ are k8sm's own"},
		{"an empty task label", label(""), "names no task label"},
		{"an ordinary task label", label("team"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePod(tc.pod)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if _, err2 := TaskResourcesFor(tc.pod); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("TaskResourcesFor: %v, want ValidatePod's error", err2)
			}
			if _, err3 := BuildTaskInfo(tc.pod, placement.Assignment{}, mesos.ExecutorInfo{}, defaultSecurity); err3 == nil || err3.Error() != err.Error() {
				t.Errorf("BuildTaskInfo: %v, want ValidatePod's error (the scheduler fails the pod with it)", err3)
			}
		})
	}
}

// What ResourcesFor and RequestFor make of a pod out of range: the most a task may ask
// for, which no agent offers, never a wrapped amount; ports out of range are left out.
func TestOutOfRangeAsksForTheMost(t *testing.T) {
	maxMB := float64(MaxBytes) / (1 << 20)
	for _, tc := range []struct {
		name             string
		pod              *corev1.Pod
		cpus, memMB, gpu float64
		ports            int
	}{
		{"cpu 1e18", asking("cpu", "1e18"), MaxCPUs, 64, 0, 0},
		{"cpu wrapping millicores", asking("cpu", "12345678901234567890123"), MaxCPUs, 64, 0, 0},
		{"negative cpu takes the default", asking("cpu", "-2"), 0.1, 64, 0, 0},
		{"memory 1e30", asking("memory", "1e30"), 0.1, maxMB, 0, 0},
		{"gpus beyond int32", asking("nvidia.com/gpu", "1e12"), 0.1, 64, MaxGPUs, 0},
		{"ports out of range", withPorts(corev1.ContainerPort{ContainerPort: 1, HostPort: 70000}, corev1.ContainerPort{ContainerPort: 2, HostPort: 8080}), 0.1, 64, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ResourcesFor(tc.pod)
			r := RequestFor(tc.pod, &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{Resources: res}})
			if r.CPUs != tc.cpus || r.MemMB != tc.memMB || r.GPUs != tc.gpu || len(r.HostPorts) != tc.ports {
				t.Errorf("request = cpus %v mem %v gpus %v ports %v; want %v %v %v %d ports", r.CPUs, r.MemMB, r.GPUs, r.HostPorts, tc.cpus, tc.memMB, tc.gpu, tc.ports)
			}
		})
	}
}

// A MesosTask written before k8sm checked its amounts asks for the most (it fits nowhere)
// instead of a wrapped amount: negative or zero cpus would fit anywhere.
func TestRequestForSaturates(t *testing.T) {
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	maxMB := float64(MaxBytes) / (1 << 20)
	for _, tc := range []struct {
		name string
		res  mesosv1alpha1.TaskResources
		want placement.Request
	}{
		{"in range", mesosv1alpha1.TaskResources{CPUs: q("1500m"), Memory: q("1Gi"), Disk: q("2Gi"), GPUs: 2, Ports: []int32{80}},
			placement.Request{CPUs: 1.5, MemMB: 1024, DiskMB: 2048, GPUs: 2, HostPorts: []uint32{80}}},
		{"cpu 1e18, whose MilliValue is 0", mesosv1alpha1.TaskResources{CPUs: q("1e18")}, placement.Request{CPUs: MaxCPUs}},
		{"negative amounts", mesosv1alpha1.TaskResources{CPUs: q("-1"), Memory: q("-1Gi"), Disk: q("-1"), GPUs: -3},
			placement.Request{CPUs: MaxCPUs, MemMB: maxMB, DiskMB: maxMB, GPUs: MaxGPUs}},
		{"memory whose Value wraps", mesosv1alpha1.TaskResources{Memory: q("12345678901234567890123")}, placement.Request{MemMB: maxMB}},
		{"ports out of range", mesosv1alpha1.TaskResources{Ports: []int32{0, 70000, 8080}}, placement.Request{CPUs: MaxCPUs, HostPorts: []uint32{8080}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := RequestFor(&corev1.Pod{}, &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{Resources: tc.res}})
			if r.CPUs != tc.want.CPUs || r.MemMB != tc.want.MemMB || r.DiskMB != tc.want.DiskMB || r.GPUs != tc.want.GPUs ||
				len(r.HostPorts) != len(tc.want.HostPorts) || (len(r.HostPorts) > 0 && r.HostPorts[0] != tc.want.HostPorts[0]) {
				t.Errorf("RequestFor = %+v, want %+v", r, tc.want)
			}
		})
	}
	mc := &mesosv1alpha1.MesosCluster{}
	mc.Spec.Executor.Resources = mesosv1alpha1.ExecutorResources{CPUs: q("1e18"), Memory: q("1e30")}
	if r := ExecutorRequest(mc); r.CPUs != MaxCPUs || r.MemMB != maxMB {
		t.Errorf("ExecutorRequest = %+v, want the most", r)
	}
}

// A pod's task labels never stand in for the labels naming the pod: ValidatePod refuses
// them, and PodRefFromLabels reads the first of each label, which k8sm sets.
func TestTaskLabelsCannotShadowK8smLabels(t *testing.T) {
	pod := asking("cpu", "100m")
	pod.Annotations = map[string]string{AnnotationTaskLabelPrefix + LabelUID: "someone-else", AnnotationTaskLabelPrefix + "team": "blue"}
	if _, err := BuildTaskInfo(pod, placement.Assignment{}, mesos.ExecutorInfo{}, defaultSecurity); err == nil || !strings.Contains(err.Error(), "k8sm's own") {
		t.Fatalf("BuildTaskInfo: %v, want the shadowing label refused", err)
	}
	delete(pod.Annotations, AnnotationTaskLabelPrefix+LabelUID)
	ti, err := BuildTaskInfo(pod, placement.Assignment{}, mesos.ExecutorInfo{}, defaultSecurity)
	if err != nil {
		t.Fatal(err)
	}
	if len(ti.Labels.Labels) != 4 || ti.Labels.Labels[3].Key != "team" {
		t.Fatalf("labels = %v, want k8sm's three then team", ti.Labels.Labels)
	}
	shadowed := &mesos.Labels{Labels: append(ti.Labels.Labels, mesos.Label{Key: LabelUID, Value: ptr("someone-else")},
		mesos.Label{Key: LabelName, Value: ptr("other")})}
	if ref, ok := PodRefFromLabels(shadowed); !ok || ref.UID != "u-1" || ref.Name != "p" {
		t.Fatalf("PodRefFromLabels = %+v, %v: a later label overrode k8sm's", ref, ok)
	}
}

func TestSetPodInvalid(t *testing.T) {
	ps := &corev1.PodStatus{Phase: corev1.PodPending}
	SetPodInvalid(ps, ValidatePod(asking("cpu", "1e18")))
	if ps.Phase != corev1.PodFailed || ps.Reason != ReasonInvalidPod || !strings.Contains(ps.Message, "requests[cpu]") {
		t.Fatalf("SetPodInvalid = %+v", ps)
	}
}

func TestClamp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456…"},
		{"ééééé", 8, "éé…"}, // é is 2 bytes; … is 3: never half a character
		{"abc", 2, "ab"},
		{"abc", 0, ""},
	} {
		got := Clamp(tc.in, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("Clamp(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// What Mesos or an offer says is cut to the MesosTask's bounds before it is written.
func TestStatusIsCutToItsBounds(t *testing.T) {
	long := strings.Repeat("x", 100000)
	reason := mesos.TaskStatus_Reason(math.MaxInt32)
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging}
	ApplyUpdate(st, mesos.TaskStatus{State: mesos.TASK_FAILED.Enum(), Message: &long, Reason: &reason,
		AgentID: &mesos.AgentID{Value: long}, ExecutorID: &mesos.ExecutorID{Value: long}, UUID: []byte(long)}, metav1.Now())
	for name, got := range map[string]struct{ s string }{
		"message": {st.Message}, "agentID": {st.AgentID}, "executorID": {st.ExecutorID}, "lastUpdateUUID": {st.LastUpdateUUID}, "reason": {st.Reason},
	} {
		if limit := crdBounds(t)[name]; len(got.s) > limit || got.s == "" {
			t.Errorf("%s has %d characters, more than the CRD's %d (or none)", name, len(got.s), limit)
		}
	}
	st = &mesosv1alpha1.MesosTaskStatus{}
	SetLaunched(st, Launch{AgentID: long, Hostname: long, ExecutorID: long}, 1)
	SetInvalid(st, errors.New(long))
	if len(st.Hostname) > MaxHostnameLength || len(st.AgentID) > MaxIDLength || len(st.Message) > MaxMessageLength {
		t.Errorf("launch fields not cut: %d %d %d", len(st.Hostname), len(st.AgentID), len(st.Message))
	}
	st = &mesosv1alpha1.MesosTaskStatus{}
	if !SetUnschedulable(st, long, 1) || SetUnschedulable(st, long, 1) {
		t.Error("a long explanation is written again each time, or not at all")
	}
	if len(st.Message) > MaxMessageLength || len(st.Conditions[0].Message) > MaxMessageLength {
		t.Errorf("explanation not cut: %d", len(st.Message))
	}
}

// crdBounds reads the maxLength of each status string of the MesosTask CRD.
func crdBounds(t *testing.T) map[string]int {
	t.Helper()
	b, err := os.ReadFile("../../config/crd/bases/mesos.k8sm.io_mesostasks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]struct {
								MaxLength *int `json:"maxLength"`
							} `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for name, p := range crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties {
		if p.MaxLength != nil {
			out[name] = *p.MaxLength
		}
	}
	return out
}

// The bounds podtask cuts to are the CRD's.
func TestStatusBoundsMatchTheCRD(t *testing.T) {
	bounds := crdBounds(t)
	for name, want := range map[string]int{
		"message": MaxMessageLength, "reason": MaxReasonLength, "agentID": MaxIDLength, "executorID": MaxIDLength,
		"hostname": MaxHostnameLength, "mesosState": MaxStateLength, "source": MaxStateLength, "lastUpdateUUID": MaxUUIDLength,
	} {
		if got, ok := bounds[name]; !ok || got != want {
			t.Errorf("status.%s: the CRD says maxLength %d (%v), podtask cuts at %d", name, got, ok, want)
		}
	}
}
