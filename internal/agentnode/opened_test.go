package agentnode

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOpened(t *testing.T) {
	noSchedule := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	node := func(unschedulable bool, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels},
			Spec: corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints}}
	}
	later := unreachable
	later.TimeAdded = &metav1.Time{}
	otherValue := noSchedule
	otherValue.Value = "cpu"
	otherEffect := noSchedule
	otherEffect.Effect = corev1.TaintEffectPreferNoSchedule
	heartbeat := node(false, nil)
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, tc := range []struct {
		name          string
		before, after *corev1.Node
		want          bool
	}{
		{"uncordoned", node(true, nil), node(false, nil), true},
		{"cordoned", node(false, nil), node(true, nil), false},
		{"still cordoned", node(true, nil), node(true, nil), false},
		{"a taint removed", node(false, nil, noSchedule, unreachable), node(false, nil, unreachable), true},
		{"a taint added", node(false, nil, unreachable), node(false, nil, unreachable, noSchedule), false},
		{"a taint's value changed", node(false, nil, noSchedule), node(false, nil, otherValue), true},
		{"a taint's effect changed", node(false, nil, noSchedule), node(false, nil, otherEffect), true},
		{"a taint's time added changed", node(false, nil, unreachable), node(false, nil, later), false},
		{"a label added", node(false, map[string]string{"a": "1"}), node(false, map[string]string{"a": "1", "b": "2"}), true},
		{"a label changed", node(false, map[string]string{"a": "1"}), node(false, map[string]string{"a": "2"}), true},
		{"the same labels", node(false, map[string]string{"a": "1"}), node(false, map[string]string{"a": "1"}), false},
		{"its status alone", node(false, nil), heartbeat, false},
		{"no Node before", nil, node(false, nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Opened(tc.before, tc.after); got != tc.want {
				t.Errorf("Opened = %v, want %v", got, tc.want)
			}
		})
	}
}
