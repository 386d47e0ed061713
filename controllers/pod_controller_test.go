package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTrimPod(t *testing.T) {
	full := func(scheduler, node string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u", ResourceVersion: "7",
				Labels: map[string]string{"app": "x"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
			Spec: corev1.PodSpec{SchedulerName: scheduler, NodeName: node,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
		}
	}
	for _, tc := range []struct {
		name, scheduler, node string
		kept                  bool // the whole pod, or a stub
	}{
		{"another scheduler's", "mesos", "", true},
		{"another scheduler's, bound", "mesos", "worker-1", true},
		{"bound to an agent's Node", corev1.DefaultSchedulerName, "mesos-c-agent-1", true},
		{"the default scheduler's, unbound", corev1.DefaultSchedulerName, "", false},
		{"the default scheduler's, on a kubelet's Node", corev1.DefaultSchedulerName, "worker-1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := trimPod(full(tc.scheduler, tc.node))
			if err != nil {
				t.Fatal(err)
			}
			p := o.(*corev1.Pod)
			if p.ManagedFields != nil {
				t.Errorf("managed fields kept: %v", p.ManagedFields)
			}
			if got := len(p.Spec.Containers) == 1 && p.Status.PodIP != ""; got != tc.kept {
				t.Errorf("whole pod kept = %v, want %v", got, tc.kept)
			}
			// What the controllers filter and index by stays in a stub.
			if p.Name != "p" || p.Namespace != "ns" || p.UID != "u" || p.ResourceVersion != "7" ||
				p.Spec.SchedulerName != tc.scheduler || p.Spec.NodeName != tc.node || p.Status.Phase != corev1.PodRunning {
				t.Errorf("stub lost identity or placement: %+v", p)
			}
		})
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}}}
	if o, _ := trimPod(node); o.(*corev1.Node).ManagedFields != nil {
		t.Error("a Node's managed fields kept")
	}
}
