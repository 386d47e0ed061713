package controllers

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// A Node status is written again when what the API server reads of it changes: the
// kubelet API's port among the rest, but not for a heartbeat alone.
func TestNodeStatusChanged(t *testing.T) {
	now := time.Unix(1000, 0)
	a := agentnode.Agent{ID: "a1", Hostname: "h1", KubeletAPI: agentnode.KubeletAPI{Port: 10350, Served: true}}
	old := agentnode.Status(a, true, metav1.NewTime(now), nil)
	later := now.Add(time.Second)
	for _, tc := range []struct {
		name string
		port int32
		want bool
	}{
		{"a heartbeat only", 10350, false},
		{"another kubelet API port", 10400, true},
		{"serving turned off", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := a
			b.KubeletAPI.Port = tc.port
			desired := agentnode.Status(b, true, metav1.NewTime(later), old.Conditions)
			if got := nodeStatusChanged(&old, &desired, later); got != tc.want {
				t.Errorf("nodeStatusChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// What nodeStatusChanged compares, one field at a time: a status the same but for its
// heartbeat is not written (nil and empty lists being the same), any other change is, and
// so is a heartbeat older than nodeStatusRefresh.
func TestNodeStatusChangedFields(t *testing.T) {
	now := time.Unix(1000, 0)
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 4}}
	a := agentnode.Agent{ID: "a1", Hostname: "h1", Resources: []mesos.Resource{cpus}, Allocatable: []mesos.Resource{cpus}}
	old := agentnode.Status(a, true, metav1.NewTime(now), nil)
	later := now.Add(time.Second)
	for _, tc := range []struct {
		name   string
		change func(old, desired *corev1.NodeStatus)
		at     time.Time
		want   bool
	}{
		{"nothing but the heartbeat", func(_, _ *corev1.NodeStatus) {}, later, false},
		{"the same quantity written otherwise", func(_, st *corev1.NodeStatus) {
			st.Capacity[corev1.ResourceCPU] = resource.MustParse("4000m")
		}, later, false},
		{"an empty list for none", func(old, st *corev1.NodeStatus) {
			old.Addresses, st.Addresses = nil, []corev1.NodeAddress{}
		}, later, false},
		{"another capacity", func(_, st *corev1.NodeStatus) { st.Capacity[corev1.ResourceCPU] = resource.MustParse("5") }, later, true},
		{"a resource more allocatable", func(_, st *corev1.NodeStatus) {
			st.Allocatable[corev1.ResourceName("nvidia.com/gpu")] = resource.MustParse("1")
		}, later, true},
		{"a condition's status", func(_, st *corev1.NodeStatus) { st.Conditions[0].Status = corev1.ConditionUnknown }, later, true},
		{"a condition's message", func(_, st *corev1.NodeStatus) { st.Conditions[0].Message += "!" }, later, true},
		{"a condition's transition", func(_, st *corev1.NodeStatus) {
			st.Conditions[0].LastTransitionTime = metav1.NewTime(later)
		}, later, true},
		{"a condition less", func(_, st *corev1.NodeStatus) { st.Conditions = st.Conditions[1:] }, later, true},
		{"an address", func(_, st *corev1.NodeStatus) {
			st.Addresses = append(st.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.9"})
		}, later, true},
		{"the kubelet version", func(_, st *corev1.NodeStatus) { st.NodeInfo.KubeletVersion += "-new" }, later, true},
		{"a heartbeat due", func(_, _ *corev1.NodeStatus) {}, now.Add(nodeStatusRefresh), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := old.DeepCopy()
			desired := agentnode.Status(a, true, metav1.NewTime(tc.at), old.Conditions)
			tc.change(old, &desired)
			if got := nodeStatusChanged(old, &desired, tc.at); got != tc.want {
				t.Errorf("nodeStatusChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkNodeStatusChanged is what every pass over the agents pays per agent to find
// that its Node's status needs no write.
func BenchmarkNodeStatusChanged(b *testing.B) {
	now := time.Unix(1000, 0)
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 4}}
	mem := mesos.Resource{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 4096}}
	a := agentnode.Agent{ID: "a1", Hostname: "h1", Resources: []mesos.Resource{cpus, mem}, Allocatable: []mesos.Resource{cpus, mem}}
	old := agentnode.Status(a, true, metav1.NewTime(now), nil)
	desired := agentnode.Status(a, true, metav1.NewTime(now.Add(time.Second)), old.Conditions)
	b.ReportAllocs()
	for b.Loop() {
		if nodeStatusChanged(&old, &desired, now.Add(time.Second)) {
			b.Fatal("changed")
		}
	}
}
