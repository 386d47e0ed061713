package podtask

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

func container(cpu, mem string) corev1.Container {
	c := corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
	if cpu != "" {
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return c
}

func TestResourcesFor(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := container("200m", "64Mi")
	sidecar.RestartPolicy = &always
	limitsOnly := corev1.Container{Name: "l", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1"), ResourceGPU: resource.MustParse("2")}}}
	withPorts := container("100m", "")
	withPorts.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81}}

	for _, tc := range []struct {
		name     string
		spec     corev1.PodSpec
		cpu, mem string
		gpus     int32
		ports    []int32
		disk     string
	}{
		{"defaults when nothing is requested", corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}, "100m", "64Mi", 0, nil, ""},
		{"sum of containers", corev1.PodSpec{Containers: []corev1.Container{container("250m", "128Mi"), container("500m", "256Mi")}}, "750m", "384Mi", 0, nil, ""},
		{"an init container larger than the sum wins", corev1.PodSpec{InitContainers: []corev1.Container{container("2", "1Gi")}, Containers: []corev1.Container{container("500m", "256Mi")}}, "2", "1Gi", 0, nil, ""},
		{"sidecars add to the sum", corev1.PodSpec{InitContainers: []corev1.Container{sidecar}, Containers: []corev1.Container{container("500m", "256Mi")}}, "700m", "320Mi", 0, nil, ""},
		{"overhead is added", corev1.PodSpec{Containers: []corev1.Container{container("500m", "256Mi")}, Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}, "600m", "256Mi", 0, nil, ""},
		{"limits stand in for requests, gpus from nvidia.com/gpu", corev1.PodSpec{Containers: []corev1.Container{limitsOnly}}, "1", "64Mi", 2, nil, ""},
		{"host ports", corev1.PodSpec{Containers: []corev1.Container{withPorts}}, "100m", "64Mi", 0, []int32{8080}, ""},
		{"ephemeral storage is disk", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}}}}, "100m", "64Mi", 0, nil, "1Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ResourcesFor(&corev1.Pod{Spec: tc.spec})
			if r.CPUs.Cmp(resource.MustParse(tc.cpu)) != 0 || r.Memory.Cmp(resource.MustParse(tc.mem)) != 0 {
				t.Errorf("cpu %s mem %s, want %s %s", r.CPUs, r.Memory, tc.cpu, tc.mem)
			}
			if r.GPUs != tc.gpus || len(r.Ports) != len(tc.ports) || (len(tc.ports) > 0 && r.Ports[0] != tc.ports[0]) {
				t.Errorf("gpus %d ports %v, want %d %v", r.GPUs, r.Ports, tc.gpus, tc.ports)
			}
			if (tc.disk == "") != (r.Disk == nil) || (r.Disk != nil && r.Disk.Cmp(resource.MustParse(tc.disk)) != 0) {
				t.Errorf("disk %v, want %q", r.Disk, tc.disk)
			}
		})
	}
}

func TestTaskIDAndRequest(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1"},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"rack": "r1"}, Containers: []corev1.Container{container("1500m", "1Gi")}}}
	if TaskIDFor(pod) != "k8sm.u-1" {
		t.Fatalf("TaskIDFor = %q", TaskIDFor(pod))
	}
	for id, want := range map[string]bool{"k8sm.u-1": true, "k8sm.u-10": false, "k8sm.u-": false, "x8sm.u-1": false, "u-1": false, "": false} {
		if got := IsTaskIDOf(id, pod); got != want {
			t.Errorf("IsTaskIDOf(%q) = %v, want %v", id, got, want)
		}
	}
	mt := &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{TaskID: TaskIDFor(pod), Resources: ResourcesFor(pod), Role: "k8s"}}
	r := RequestFor(pod, mt)
	if r.ID != "k8sm.u-1" || r.CPUs != 1.5 || r.MemMB != 1024 || r.Role != "k8s" || r.NodeSelector["rack"] != "r1" || r.Node != "" {
		t.Fatalf("RequestFor = %+v", r)
	}
	pod.Spec.NodeName = "mesos-c-agent-1"
	if r := RequestFor(pod, mt); r.Node != "mesos-c-agent-1" {
		t.Fatalf("a bound pod must be pinned to its agent: %+v", r)
	}
}

func TestBuildTaskInfo(t *testing.T) {
	grace := int64(7)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec:   corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}}
	a := placement.Assignment{Request: placement.Request{ID: "k8sm.u-1"}, AgentID: mesos.AgentID{Value: "S1"}, Node: "mesos-c-h1",
		Resources: []mesos.Resource{cpus}, ExecutorResources: []mesos.Resource{cpus}}
	exec := mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "k8sm-executor-c"}}
	ti, err := BuildTaskInfo(pod, a, exec, defaultSecurity)
	if err != nil {
		t.Fatal(err)
	}
	if ti.TaskID.Value != "k8sm.u-1" || ti.AgentID.Value != "S1" || ti.Name != "ns/web" || len(ti.Resources) != 1 {
		t.Fatalf("TaskInfo = %+v", ti)
	}
	if ti.Executor == nil || ti.Executor.ExecutorID.Value != "k8sm-executor-c" || len(ti.Executor.Resources) != 1 {
		t.Fatalf("executor = %+v", ti.Executor)
	}
	if ti.KillPolicy.GetGracePeriod().GetNanoseconds() != (7 * time.Second).Nanoseconds() {
		t.Fatalf("kill policy = %v", ti.KillPolicy)
	}
	labels := map[string]string{}
	for _, l := range ti.Labels.Labels {
		labels[l.Key] = l.GetValue()
	}
	if labels[LabelNamespace] != "ns" || labels[LabelName] != "web" || labels[LabelUID] != "u-1" {
		t.Fatalf("labels = %v", labels)
	}
	var back corev1.Pod
	if err := json.Unmarshal(ti.Data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Name != "web" || back.Spec.Containers[0].Image != "busybox" || back.ManagedFields != nil || back.Status.Phase != "" {
		t.Fatalf("data = %+v", back)
	}
	// The pod as bound (the launch comes before the binding): the downward API's
	// spec.nodeName is the agent's Node, in either runtime.
	if back.Spec.NodeName != "mesos-c-h1" || pod.Spec.NodeName != "" {
		t.Fatalf("the data's spec.nodeName %q, want the assignment's Node; the pod's own %q, want it unchanged", back.Spec.NodeName, pod.Spec.NodeName)
	}
}

func TestResourceArithmetic(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := func(cpu, mem string) corev1.Container {
		c := container(cpu, mem)
		c.RestartPolicy = &always
		return c
	}
	gpu := func(n string) corev1.Container {
		c := container("100m", "")
		c.Resources.Requests[ResourceGPU] = resource.MustParse(n)
		return c
	}
	memLimitOnly := corev1.Container{Name: "m", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}
	hostPort := func(ports ...int32) corev1.Container {
		c := container("100m", "")
		for _, p := range ports {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: p, HostPort: p})
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		spec     corev1.PodSpec
		defaults *Defaults
		cpu, mem string
		gpus     int32
		ports    []int32
	}{
		{name: "init containers take the largest, not the sum",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{container("1", "100Mi"), container("2", "50Mi")}, Containers: []corev1.Container{container("500m", "256Mi")}},
			cpu:  "2", mem: "256Mi"},
		{name: "a sidecar started before an init container adds to its peak",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar("200m", "10Mi"), container("1", "10Mi")}, Containers: []corev1.Container{container("500m", "256Mi")}},
			cpu:  "1200m", mem: "266Mi"},
		{name: "a sidecar started after an init container does not",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{container("1", "10Mi"), sidecar("200m", "10Mi")}, Containers: []corev1.Container{container("500m", "256Mi")}},
			cpu:  "1", mem: "266Mi"},
		{name: "overhead is added to the init peak too",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{container("2", "")}, Containers: []corev1.Container{container("500m", "")},
				Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
			cpu: "2250m", mem: "32Mi"},
		{name: "memory limits stand in for requests", spec: corev1.PodSpec{Containers: []corev1.Container{memLimitOnly}}, cpu: "100m", mem: "1Gi"},
		{name: "pod-level requests win over the containers'",
			spec: corev1.PodSpec{Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}},
				Containers: []corev1.Container{container("500m", "128Mi")}},
			cpu: "3", mem: "128Mi"},
		{name: "gpus add up over containers", spec: corev1.PodSpec{Containers: []corev1.Container{gpu("1"), gpu("2")}}, cpu: "200m", mem: "64Mi", gpus: 3},
		{name: "defaults are configurable", spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
			defaults: &Defaults{CPU: resource.MustParse("250m"), Memory: resource.MustParse("128Mi")}, cpu: "250m", mem: "128Mi"},
		{name: "a default only where nothing is requested", spec: corev1.PodSpec{Containers: []corev1.Container{container("", "1Gi")}}, cpu: "100m", mem: "1Gi"},
		{name: "host ports of all containers, each once",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{hostPort(9000)}, Containers: []corev1.Container{hostPort(8080, 8443), hostPort(8080)}},
			cpu:  "200m", mem: "64Mi", ports: []int32{9000, 8080, 8443}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tc.spec}
			r := ResourcesFor(pod)
			if tc.defaults != nil {
				r = ResourcesWithDefaults(pod, *tc.defaults)
			}
			if r.CPUs.Cmp(resource.MustParse(tc.cpu)) != 0 || r.Memory.Cmp(resource.MustParse(tc.mem)) != 0 {
				t.Errorf("cpu %s mem %s, want %s %s", r.CPUs, r.Memory, tc.cpu, tc.mem)
			}
			if r.GPUs != tc.gpus {
				t.Errorf("gpus %d, want %d", r.GPUs, tc.gpus)
			}
			if !slices.Equal(r.Ports, tc.ports) {
				t.Errorf("ports %v, want %v", r.Ports, tc.ports)
			}
		})
	}
}

func TestRequestFor(t *testing.T) {
	aff := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1", Annotations: map[string]string{AnnotationRole: "from-annotation"}},
		Spec: corev1.PodSpec{Affinity: aff, Containers: []corev1.Container{container("250m", "512Mi")}}}
	disk := resource.MustParse("2Gi")
	res := ResourcesFor(pod)
	res.Disk, res.GPUs, res.Ports = &disk, 1, []int32{8080}
	mt := &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{TaskID: "k8sm.u-1", Resources: res}}
	r := RequestFor(pod, mt)
	want := placement.Request{ID: "k8sm.u-1", CPUs: 0.25, MemMB: 512, DiskMB: 2048, GPUs: 1, HostPorts: []uint32{8080}, Affinity: aff, Role: "from-annotation"}
	if r.ID != want.ID || r.CPUs != want.CPUs || r.MemMB != want.MemMB || r.DiskMB != want.DiskMB || r.GPUs != want.GPUs ||
		!slices.Equal(r.HostPorts, want.HostPorts) || r.Affinity != aff || r.Role != want.Role {
		t.Errorf("RequestFor = %+v, want %+v", r, want)
	}
	mt.Spec.Role = "from-spec"
	if r := RequestFor(pod, mt); r.Role != "from-spec" {
		t.Errorf("role %q, want the MesosTask's", r.Role)
	}
}

func TestTaskInfoRoundTrip(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1", Labels: map[string]string{"app": "web"},
			Annotations:   map[string]string{AnnotationTaskLabelPrefix + "team": "blue", "other": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"},
			Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 31000}}}}, SchedulerName: "mesos"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Message: "not for the executor"},
	}
	res := []mesos.Resource{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.1}},
		{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31000, End: 31000}}}}}
	a := placement.Assignment{Request: placement.Request{ID: TaskIDFor(pod)}, AgentID: mesos.AgentID{Value: "S9"}, Resources: res}
	ti, err := BuildTaskInfo(pod, a, mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"}}, defaultSecurity)
	if err != nil {
		t.Fatal(err)
	}
	if ti.KillPolicy.GetGracePeriod().GetNanoseconds() != (30 * time.Second).Nanoseconds() {
		t.Errorf("default kill grace = %v, want 30s", ti.KillPolicy)
	}
	if !slices.EqualFunc(ti.Resources, res, func(x, y mesos.Resource) bool { return x.Equal(y) }) {
		t.Errorf("resources %v, want the assignment's %v", ti.Resources, res)
	}
	if len(ti.Executor.Resources) != 0 {
		t.Errorf("executor resources %v, want the assignment's (none)", ti.Executor.Resources)
	}
	var back corev1.Pod
	if err := json.Unmarshal(ti.Data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Kind != "Pod" || back.APIVersion != "v1" {
		t.Errorf("data type %s/%s", back.APIVersion, back.Kind)
	}
	wantMeta := pod.ObjectMeta.DeepCopy()
	wantMeta.ManagedFields = nil
	wantMeta.Annotations[AnnotationDefaultUser] = defaultSecurity.DefaultUser()
	if !equality.Semantic.DeepEqual(back.ObjectMeta, *wantMeta) || !equality.Semantic.DeepEqual(back.Spec, pod.Spec) {
		t.Errorf("data does not round-trip:\n%+v\n%+v", back.ObjectMeta, back.Spec)
	}
	if !equality.Semantic.DeepEqual(back.Status, corev1.PodStatus{}) {
		t.Errorf("status in data: %+v", back.Status)
	}
	if pod.ManagedFields == nil {
		t.Error("BuildTaskInfo changed the pod")
	}
	labels := map[string]string{}
	for _, l := range ti.Labels.Labels {
		labels[l.Key] = l.GetValue()
	}
	if labels["team"] != "blue" || labels["other"] != "" || len(labels) != 4 {
		t.Errorf("labels %v, want the pod's three and team=blue", labels)
	}
	ref, ok := PodRefFromLabels(ti.Labels)
	if !ok || ref != (PodRef{Namespace: "ns", Name: "web", UID: "u-1"}) {
		t.Errorf("PodRefFromLabels = %+v, %v", ref, ok)
	}
	for _, l := range []*mesos.Labels{nil, {Labels: ti.Labels.Labels[1:]}} {
		if ref, ok := PodRefFromLabels(l); ok {
			t.Errorf("PodRefFromLabels(%v) = %+v, want not ok", l, ref)
		}
	}
}
