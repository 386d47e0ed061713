package taskapi

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestTheLeaderAloneCarriesTheLeaderLabel(t *testing.T) {
	pod := func(ns, name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
	}
	leader := map[string]string{LeaderLabelKey: "true", "app": "k8sm"}
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
	}{
		{"no pod labeled yet", []*corev1.Pod{pod("sys", "a", nil), pod("sys", "b", nil)}},
		{"the leader before still labeled", []*corev1.Pod{pod("sys", "a", nil), pod("sys", "b", leader)}},
		{"already labeled", []*corev1.Pod{pod("sys", "a", leader), pod("sys", "b", nil)}},
		{"both labeled", []*corev1.Pod{pod("sys", "a", leader), pod("sys", "b", leader)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder()
			for _, p := range tc.pods {
				b = b.WithObjects(p)
			}
			// Another namespace's pod with the label is not the manager's: left alone.
			c := b.WithObjects(pod("elsewhere", "x", leader)).Build()
			l := &LeaderLabel{Client: c, Reader: c, Namespace: "sys", Pod: "a", Log: logr.Discard()}
			ctx := context.Background()
			for range 2 { // and again: nothing changes
				if err := l.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				for ns, want := range map[string]map[string]bool{"sys": {"a": true, "b": false}, "elsewhere": {"x": true}} {
					for name, labeled := range want {
						got := &corev1.Pod{}
						if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, got); err != nil {
							t.Fatal(err)
						}
						if (got.Labels[LeaderLabelKey] == "true") != labeled {
							t.Errorf("%s/%s labels %v, labeled as leader: want %v", ns, name, got.Labels, labeled)
						}
					}
				}
			}
			var all corev1.PodList
			if err := c.List(ctx, &all, client.InNamespace("sys"), client.MatchingLabels{"app": "k8sm"}); err != nil {
				t.Fatal(err)
			}
			for _, p := range all.Items {
				if p.Labels["app"] != "k8sm" {
					t.Errorf("%s lost its other labels: %v", p.Name, p.Labels)
				}
			}
		})
	}
}
