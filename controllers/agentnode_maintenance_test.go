package controllers

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// The maintenance taint is put on an agent's Node while its machine is scheduled for
// maintenance and taken off after; the Node's other taints (the cluster's, a person's, the
// node lifecycle's) stay as they are.
func TestMaintenanceTaint(t *testing.T) {
	cluster := agentnode.Taint("c")
	maint := agentnode.MaintenanceTaint()
	other := corev1.Taint{Key: "example.com/dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	window := &agentnode.Unavailability{Start: time.Now().Add(time.Hour)}
	for _, tc := range []struct {
		name   string
		have   []corev1.Taint
		window *agentnode.Unavailability
		wrong  bool
		want   []corev1.Taint
	}{
		{name: "not scheduled, not tainted", have: []corev1.Taint{cluster, other}, want: []corev1.Taint{cluster, other}},
		{name: "scheduled: tainted", have: []corev1.Taint{cluster, unreachable}, window: window, wrong: true,
			want: []corev1.Taint{cluster, unreachable, maint}},
		{name: "scheduled and tainted", have: []corev1.Taint{maint, cluster}, window: window, want: []corev1.Taint{maint, cluster}},
		{name: "no longer scheduled: the taint goes", have: []corev1.Taint{cluster, maint, other}, wrong: true,
			want: []corev1.Taint{cluster, other}},
		{name: "a maintenance taint of another effect is a person's", have: []corev1.Taint{cluster, {Key: maint.Key, Effect: corev1.TaintEffectNoExecute}},
			wrong: false, want: []corev1.Taint{cluster, {Key: maint.Key, Effect: corev1.TaintEffectNoExecute}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := &corev1.Node{Spec: corev1.NodeSpec{Taints: slices.Clone(tc.have)}}
			a := agentnode.Agent{ID: "a1", Hostname: "h1", Unavailability: tc.window}
			if got := maintenanceTaintWrong(node, a); got != tc.wrong {
				t.Errorf("maintenanceTaintWrong = %v; want %v", got, tc.wrong)
			}
			before := slices.Clone(node.Spec.Taints)
			setMaintenanceTaint(node, a)
			if !slices.Equal(node.Spec.Taints, tc.want) {
				t.Errorf("taints %v; want %v", node.Spec.Taints, tc.want)
			}
			if !slices.Equal(before, tc.have) {
				t.Errorf("the Node read was changed: %v", before)
			}
		})
	}
}
