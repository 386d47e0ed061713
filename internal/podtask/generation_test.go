package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestStampGeneration(t *testing.T) {
	for _, tc := range []struct {
		name string
		mt   mesosv1alpha1.MesosTask
		want int64
	}{
		{"a MesosTask not written yet is generation 1 once created", mesosv1alpha1.MesosTask{}, 1},
		{"a written one goes one generation on", mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "12", Generation: 3}}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := tc.mt
			mt.Status.Conditions = []metav1.Condition{{Type: mesosv1alpha1.TaskConditionScheduled, ObservedGeneration: 1}}
			StampGeneration(&mt)
			if mt.Status.ObservedGeneration != tc.want || mt.Status.Conditions[0].ObservedGeneration != tc.want {
				t.Errorf("observed generations = %d, %d; want %d", mt.Status.ObservedGeneration, mt.Status.Conditions[0].ObservedGeneration, tc.want)
			}
		})
	}
}

func TestObserveGeneration(t *testing.T) {
	gate := corev1.PodConditionType("example.com/lb")
	for _, tc := range []struct {
		name        string
		generation  int64
		status      corev1.PodStatus
		wantChanged bool
		want        corev1.PodStatus
	}{
		{"new pod", 1, corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled}}}, true,
			corev1.PodStatus{ObservedGeneration: 1, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, ObservedGeneration: 1}}}},
		{"observed", 2, corev1.PodStatus{ObservedGeneration: 2, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, ObservedGeneration: 2}}}, false,
			corev1.PodStatus{ObservedGeneration: 2, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, ObservedGeneration: 2}}}},
		{"spec changed", 3, corev1.PodStatus{ObservedGeneration: 2, Conditions: []corev1.PodCondition{
			{Type: corev1.PodInitialized, ObservedGeneration: 2}, {Type: corev1.ContainersReady, ObservedGeneration: 2},
			{Type: corev1.PodReady, ObservedGeneration: 2}, {Type: corev1.PodReadyToStartContainers, ObservedGeneration: 2}}}, true,
			corev1.PodStatus{ObservedGeneration: 3, Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, ObservedGeneration: 3}, {Type: corev1.ContainersReady, ObservedGeneration: 3},
				{Type: corev1.PodReady, ObservedGeneration: 3}, {Type: corev1.PodReadyToStartContainers, ObservedGeneration: 3}}}},
		{"others' conditions are theirs", 2, corev1.PodStatus{ObservedGeneration: 2, Conditions: []corev1.PodCondition{
			{Type: gate, ObservedGeneration: 1}, {Type: corev1.DisruptionTarget}}}, false,
			corev1.PodStatus{ObservedGeneration: 2, Conditions: []corev1.PodCondition{{Type: gate, ObservedGeneration: 1}, {Type: corev1.DisruptionTarget}}}},
		{"never backwards", 1, corev1.PodStatus{ObservedGeneration: 2}, false, corev1.PodStatus{ObservedGeneration: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Generation: tc.generation}, Status: *tc.status.DeepCopy()}
			st := tc.status
			if changed := ObserveGeneration(pod, &st); changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if !equality.Semantic.DeepEqual(st, tc.want) {
				t.Errorf("status %+v, want %+v", st, tc.want)
			}
		})
	}
}

func TestSpecChangedSinceStatus(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		generation, observed int64
		want                 bool
	}{
		{"status not written by k8sm yet", 1, 0, false},
		{"spec changed before the first status write", 2, 0, false},
		{"observed", 1, 1, false},
		{"spec changed since", 2, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Generation: tc.generation}, Status: corev1.PodStatus{ObservedGeneration: tc.observed}}
			if got := SpecChangedSinceStatus(pod); got != tc.want {
				t.Errorf("SpecChangedSinceStatus = %v, want %v", got, tc.want)
			}
		})
	}
}
