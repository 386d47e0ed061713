package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestNamespaceTaken(t *testing.T) {
	on := &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
	invalid := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k8sm", Operator: "Near"}}}
	for _, tc := range []struct {
		name     string
		selector *metav1.LabelSelector
		labels   map[string]string
		want     bool
	}{
		{"no selector takes every namespace", nil, nil, true},
		{"a matching namespace", on, map[string]string{"k8sm": "on", "team": "a"}, true},
		{"a namespace of another value", on, map[string]string{"k8sm": "off"}, false},
		{"an unlabelled namespace", on, nil, false},
		{"a selector that is no label selector takes none", invalid, map[string]string{"k8sm": "on"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := &mesosv1alpha1.MesosCluster{Spec: mesosv1alpha1.MesosClusterSpec{NamespaceSelector: tc.selector}}
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: tc.labels}}
			if got := NamespaceTaken(mc, ns); got != tc.want {
				t.Errorf("NamespaceTaken = %v, want %v", got, tc.want)
			}
		})
	}
}
