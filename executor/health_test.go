package executor

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A task's health is its containers' readiness, not the pod's Ready, which readiness
// gates hold False until other controllers set their conditions on the API pod (the
// runtime never sees them; the manager weighs the gates).
func TestPodReadyIsTheContainersReadiness(t *testing.T) {
	cond := func(typ corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: typ, Status: s}
	}
	for _, tc := range []struct {
		name  string
		conds []corev1.PodCondition
		want  bool
	}{
		{"ready", []corev1.PodCondition{cond(corev1.PodReady, true), cond(corev1.ContainersReady, true)}, true},
		{"containers ready, gates not (ReadinessGatesNotReady)", []corev1.PodCondition{cond(corev1.PodReady, false), cond(corev1.ContainersReady, true)}, true},
		{"containers not ready", []corev1.PodCondition{cond(corev1.PodReady, false), cond(corev1.ContainersReady, false)}, false},
		{"Ready alone", []corev1.PodCondition{cond(corev1.PodReady, true)}, true},
		{"neither", nil, false},
	} {
		if got := podReady(&corev1.PodStatus{Conditions: tc.conds}); got != tc.want {
			t.Errorf("%s: podReady = %v, want %v", tc.name, got, tc.want)
		}
	}
}
