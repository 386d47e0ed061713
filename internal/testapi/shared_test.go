package testapi

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// SharedReads finds what a reader changed in an object read without a copy (by Get or
// in a List), in a list or a map it shares with the cache, and not what it set on its own
// shallow copy, nor what it changed in an object read with a copy.
func TestSharedReadsFindsAChangedSharedObject(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Labels: map[string]string{"a": "1"}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"a": "1"}}}
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	ctx := context.Background()
	get := func(s *SharedReads, opts ...client.GetOption) *corev1.Pod {
		p := &corev1.Pod{}
		if err := s.Get(ctx, client.ObjectKeyFromObject(pod), p, opts...); err != nil {
			t.Fatal(err)
		}
		return p
	}
	list := func(s *SharedReads) *corev1.Node {
		var nodes corev1.NodeList
		if err := s.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil || len(nodes.Items) != 1 {
			t.Fatalf("listed %d nodes: %v", len(nodes.Items), err)
		}
		return &nodes.Items[0]
	}
	for _, tc := range []struct {
		name   string
		change func(s *SharedReads)
		want   bool
	}{
		{"its own fields set", func(s *SharedReads) {
			p := get(s, client.UnsafeDisableDeepCopy)
			p.Status = corev1.PodStatus{Phase: corev1.PodFailed}
			p.Labels = map[string]string{"b": "2"}
		}, false},
		{"a copy changed", func(s *SharedReads) { get(s).Labels["a"] = "2" }, false},
		{"a shared condition changed", func(s *SharedReads) {
			get(s, client.UnsafeDisableDeepCopy).Status.Conditions[0].Status = corev1.ConditionFalse
		}, true},
		{"a shared map changed", func(s *SharedReads) { get(s, client.UnsafeDisableDeepCopy).Labels["a"] = "2" }, true},
		{"a listed object's map changed", func(s *SharedReads) { list(s).Labels["a"] = "2" }, true},
		{"a listed object's own field set", func(s *SharedReads) { list(s).Spec.Unschedulable = true }, false},
		{"one read later changed", func(s *SharedReads) {
			get(s, client.UnsafeDisableDeepCopy)
			get(s, client.UnsafeDisableDeepCopy).Labels["a"] = "3"
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(sch).WithObjects(pod.DeepCopy(), node.DeepCopy()).Build()
			s := NewSharedReads(c)
			tc.change(s)
			if got := s.Changed(); (len(got) > 0) != tc.want {
				t.Errorf("changed = %v, want changes %v", got, tc.want)
			}
		})
	}
}
