package podtask

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

// slowQuantity matches a number with an exponent of five digits or more. apimachinery's
// ParseQuantity expands such a quantity digit by digit (12345678901234567890e200000
// takes seconds, 1e-2000000000 for ever) while json.Unmarshal decodes the pod, before
// any of podtask runs; the API server pays that first. Such inputs are skipped so that
// the fuzzer explores podtask, not that.
var slowQuantity = regexp.MustCompile(`[eE][+-]?0*[1-9][0-9]{4}`)

// The seeds: pods the table tests use, pods out of range in each way, and garbage.
var podSeeds = []string{
	`{"metadata":{"name":"web","namespace":"ns","uid":"u-1"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`,
	`{"metadata":{"name":"web","namespace":"ns","uid":"u-1","annotations":{"task-label.mesos.k8sm.io/team":"blue","mesos.k8sm.io/role":"k8s"}},
	  "spec":{"terminationGracePeriodSeconds":7,"overhead":{"cpu":"100m"},
	  "initContainers":[{"name":"i","resources":{"requests":{"cpu":"2","memory":"1Gi"}}},{"name":"s","restartPolicy":"Always","resources":{"requests":{"cpu":"200m"}}}],
	  "containers":[{"name":"c","resources":{"requests":{"cpu":"250m","memory":"128Mi","ephemeral-storage":"1Gi"},"limits":{"nvidia.com/gpu":"2"}},
	  "ports":[{"containerPort":80,"hostPort":8080},{"containerPort":81}]}]}}`,
	`{"metadata":{"name":"p","uid":"u"},"spec":{"resources":{"requests":{"cpu":"3"}},"containers":[{"name":"c"}]}}`,
	`{"metadata":{"name":"p","uid":"u"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1e18","memory":"9Pi","nvidia.com/gpu":"2147483648"}}}]}}`,
	`{"metadata":{"name":"p","uid":"u"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"12345678901234567890123","ephemeral-storage":"-1"}}}]}}`,
	`{"metadata":{"name":"p","uid":"u"},"spec":{"terminationGracePeriodSeconds":-1,"containers":[{"name":"c","ports":[{"containerPort":0,"hostPort":70000}]}]}}`,
	`{"metadata":{"name":"p","uid":"u","annotations":{"task-label.mesos.k8sm.io/k8sm.io/pod-uid":"other","task-label.mesos.k8sm.io/":""}},"spec":{"containers":[{"name":"c"}]}}`,
	`{"metadata":{"name":"p","uid":"u"},"spec":{"terminationGracePeriodSeconds":9223372036854775807,"containers":[{"name":"c","resources":{"requests":{"cpu":"1e300"}}}]}}`,
	`{"spec":{"containers":[{"name":"c","resources":{"requests":{"memory":"8Pi"}}},{"name":"d","resources":{"requests":{"memory":"8Pi"}}}]}}`,
	`{"spec":{}}`, `null`, `{`, `[]`,
	`{"metadata":{"annotations":{"mesos.k8sm.io/default-user":"0:0"}},"spec":{"containers":[{"name":"c"}]}}`,
	`{"spec":{"securityContext":{"runAsUser":0},"containers":[{"name":"c","securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN"]}}}]}}`,
	`{"spec":{"securityContext":{"runAsUser":1000,"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"c","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}`,
}

// FuzzPodToTaskInfo: no pod makes the translation panic, and whatever it makes of a pod
// is valid: resources and request amounts finite, non-negative and within the limits,
// ports in 1-65535; BuildTaskInfo takes exactly the pods ValidatePod and CheckSecurity take, and the
// TaskInfo it makes names the pod by k8sm's labels.
func FuzzPodToTaskInfo(f *testing.F) {
	for _, s := range podSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if slowQuantity.Match(data) {
			t.Skip("an exponent apimachinery's quantity parser expands")
		}
		var pod corev1.Pod
		if json.Unmarshal(data, &pod) != nil {
			return
		}
		checkTranslation(t, &pod)
	})
}

// checkTranslation runs a pod through every step of its translation and checks each.
func checkTranslation(t *testing.T, pod *corev1.Pod) {
	res := ResourcesFor(pod)
	checkTaskResources(t, res)
	valid := ValidatePod(pod)
	checked, err := TaskResourcesFor(pod)
	if (err == nil) != (valid == nil) || (err == nil && !equality.Semantic.DeepEqual(checked, res)) {
		t.Fatalf("TaskResourcesFor = %+v, %v; ValidatePod says %v, ResourcesFor %+v", checked, err, valid, res)
	}
	mt := &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{TaskID: TaskIDFor(pod), Resources: res}}
	r := RequestFor(pod, mt)
	checkRequest(t, &r)
	// Placement against an offer of the most a task may ask for: every request fits.
	r.Role, r.Node, r.NodeSelector, r.Affinity = "", "", nil, nil
	result := placement.Place(placement.Input{Requests: []placement.Request{r}, Offers: []mesos.Offer{largestOffer()}, Cluster: "c"})
	if len(result.Assignments) != 1 {
		t.Fatalf("the largest offer does not fit %+v: %v", r, result.Unplaced)
	}
	allowed := valid
	if allowed == nil {
		allowed = CheckSecurity(pod, defaultSecurity)
	}
	if allowed == nil {
		allowed = CheckPlaceable(pod)
	}
	ti, err := BuildTaskInfo(pod, result.Assignments[0], mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"}}, defaultSecurity)
	if (err == nil) != (allowed == nil) {
		t.Fatalf("BuildTaskInfo: %v; ValidatePod, CheckSecurity and CheckPlaceable: %v", err, allowed)
	}
	if err == nil {
		checkTaskInfo(t, pod, &ti)
	}
}

func largestOffer() mesos.Offer {
	scalar := func(name string, v float64) mesos.Resource {
		return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
	}
	maxMB := float64(MaxBytes) / (1 << 20)
	return mesos.Offer{ID: mesos.OfferID{Value: "o"}, AgentID: mesos.AgentID{Value: "a"}, Hostname: "h",
		Resources: []mesos.Resource{scalar("cpus", MaxCPUs), scalar("mem", maxMB), scalar("disk", maxMB), scalar("gpus", MaxGPUs),
			{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 1, End: MaxPort}}}}}}
}

func checkTaskResources(t *testing.T, res mesosv1alpha1.TaskResources) {
	t.Helper()
	for name, q := range map[corev1.ResourceName]*resource.Quantity{corev1.ResourceCPU: res.CPUs, corev1.ResourceMemory: res.Memory, corev1.ResourceEphemeralStorage: res.Disk} {
		if q == nil {
			if name != corev1.ResourceEphemeralStorage {
				t.Fatalf("no %s", name)
			}
			continue
		}
		if lim := limits[name]; q.Sign() < 0 || q.Cmp(lim.max) > 0 {
			t.Fatalf("%s %s out of [0, %s]", name, q, lim.max.String())
		}
	}
	if res.GPUs < 0 {
		t.Fatalf("gpus %d", res.GPUs)
	}
	seen := map[int32]bool{}
	for _, p := range res.Ports {
		if p < 1 || p > MaxPort || seen[p] {
			t.Fatalf("ports %v", res.Ports)
		}
		seen[p] = true
	}
}

func checkRequest(t *testing.T, r *placement.Request) {
	t.Helper()
	maxMB := float64(MaxBytes) / (1 << 20)
	for _, x := range []struct {
		name   string
		v, max float64
	}{{"cpus", r.CPUs, MaxCPUs}, {"mem", r.MemMB, maxMB}, {"disk", r.DiskMB, maxMB}, {"gpus", r.GPUs, MaxGPUs}} {
		if math.IsNaN(x.v) || math.IsInf(x.v, 0) || x.v < 0 || x.v > x.max {
			t.Fatalf("request %s = %v, out of [0, %v]", x.name, x.v, x.max)
		}
	}
	for _, p := range r.HostPorts {
		if p < 1 || p > MaxPort {
			t.Fatalf("request host ports %v", r.HostPorts)
		}
	}
}

func checkTaskInfo(t *testing.T, pod *corev1.Pod, ti *mesos.TaskInfo) {
	t.Helper()
	for _, rs := range [][]mesos.Resource{ti.Resources, ti.GetExecutor().GetResources()} {
		for _, r := range rs {
			if v := r.GetScalar().GetValue(); math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("resource %s = %v", r.Name, v)
			}
			for _, rg := range r.GetRanges().GetRange() {
				if rg.Begin < 1 || rg.Begin > rg.End || rg.End > MaxPort {
					t.Fatalf("range %s [%d-%d]", r.Name, rg.Begin, rg.End)
				}
			}
		}
	}
	if g := ti.GetKillPolicy().GetGracePeriod().GetNanoseconds(); g < 0 {
		t.Fatalf("kill grace period %d", g)
	}
	labels := ti.GetLabels().GetLabels()
	if len(labels) < 3 || labels[0].Key != LabelNamespace || labels[1].Key != LabelName || labels[2].Key != LabelUID {
		t.Fatalf("labels %v do not start with k8sm's", labels)
	}
	for _, l := range labels[3:] {
		if strings.HasPrefix(l.Key, ReservedLabelPrefix) || l.Key == "" {
			t.Fatalf("the pod's task label %q shadows k8sm's", l.Key)
		}
	}
	if ref, _ := PodRefFromLabels(ti.Labels); ref != (PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}) {
		t.Fatalf("labels name %+v, not the pod", ref)
	}
	var back corev1.Pod
	if err := json.Unmarshal(ti.Data, &back); err != nil || back.Name != pod.Name || back.UID != pod.UID {
		t.Fatalf("data does not decode as the pod: %v", err)
	}
	if got := back.Annotations[AnnotationDefaultUser]; got != defaultSecurity.DefaultUser() {
		t.Fatalf("the executor gets default user %q, not the cluster's %q", got, defaultSecurity.DefaultUser())
	}
}
